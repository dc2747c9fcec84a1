"""Registry: a small durable table of JSON records by key (staff accounts, API keys, webhooks).

Two homes, one interface, chosen in the composition root as the StateStore is:

- ``FileRegistry`` (embedded mode): one JSON file under ``data_dir``, replaced atomically
  (write a temporary file, fsync it, rename it over the old one, fsync the folder), so a crash
  leaves either the old table or the new one, never half of one. Every read goes to the file
  and every change holds an ``flock`` on a lock file beside it: ``silkline users add`` in
  another process and the running server never overwrite each other's changes.
- ``RedisRegistry`` (``--redis``): one Redis hash per record (fields JSON-encoded, so a change
  of a few fields is one atomic HSET) and a set naming the records.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from signaling.state.redis_client import RedisClient, encode_fields, while_reachable

Record = dict[str, Any]


class Registry(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def get(self, key: str) -> Record | None: ...
    async def put(self, key: str, record: Record) -> None: ...
    async def update(self, key: str, fields: Record) -> bool:
        """Change some fields of an existing record; False if there is none."""
        ...
    async def delete(self, key: str) -> bool: ...
    async def all(self) -> list[Record]: ...


class FileRegistry:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    def _read(self) -> dict[str, Record]:
        try:
            with open(self.path, encoding="utf-8") as table:
                data = json.load(table)
        except FileNotFoundError:
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Record]) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(data, out, separators=(",", ":"), sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def _change(self, change: Callable[[dict[str, Record]], bool]) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self._read()
                changed = change(data)
                if changed:
                    self._write(data)
                return changed
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    async def get(self, key: str) -> Record | None:
        return (await asyncio.to_thread(self._read)).get(key)

    async def put(self, key: str, record: Record) -> None:
        def change(data: dict[str, Record]) -> bool:
            data[key] = record
            return True

        await asyncio.to_thread(self._change, change)

    async def update(self, key: str, fields: Record) -> bool:
        def change(data: dict[str, Record]) -> bool:
            if key not in data:
                return False
            data[key] = {**data[key], **fields}
            return True

        return await asyncio.to_thread(self._change, change)

    async def delete(self, key: str) -> bool:
        return await asyncio.to_thread(self._change, lambda data: data.pop(key, None) is not None)

    async def all(self) -> list[Record]:
        return list((await asyncio.to_thread(self._read)).values())


class RedisRegistry(RedisClient):
    def __init__(self, url: str, kind: str, prefix: str = "silkline") -> None:
        super().__init__(url)
        self._base = f"{prefix}:{kind}"

    def _key(self, key: str) -> str:
        return f"{self._base}:{key}"

    @while_reachable
    async def get(self, key: str) -> Record | None:
        raw = await self.r.hgetall(self._key(key))
        return {str(k): json.loads(v) for k, v in raw.items()} if raw else None

    @while_reachable
    async def put(self, key: str, record: Record) -> None:
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(key))
            pipe.hset(self._key(key), mapping=encode_fields(record))
            pipe.sadd(self._base + "s", key)
            await pipe.execute()

    @while_reachable
    async def update(self, key: str, fields: Record) -> bool:
        # only an existing record changes: checked and written in one script
        script = "if redis.call('exists', KEYS[1]) == 0 then return 0 end " \
                 "redis.call('hset', KEYS[1], unpack(ARGV)) return 1"
        args = [item for pair in encode_fields(fields).items() for item in pair]
        return bool(await self.r.eval(script, 1, self._key(key), *args))

    @while_reachable
    async def delete(self, key: str) -> bool:
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(key))
            pipe.srem(self._base + "s", key)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    @while_reachable
    async def all(self) -> list[Record]:
        keys = sorted(await self.r.smembers(self._base + "s"))
        records = [await self.get(str(key)) for key in keys]
        return [r for r in records if r is not None]


def make_registry(kind: str, data_dir: Path, redis_url: str | None) -> Registry:
    """The registry for ``kind`` (accounts, api_keys, webhooks) in the node's state mode."""
    if redis_url:
        return RedisRegistry(redis_url, kind)
    return FileRegistry(Path(data_dir) / f"{kind}.json")

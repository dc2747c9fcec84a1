"""A private test network for the Janus comparison: two network namespaces made for the run,
joined by a veth pair with two test addresses, removed afterwards.

Why: Janus 1.1.2 skips loopback interfaces when it gathers ICE candidates (src/ice.c), so on a
loopback-only machine it never connects. Janus runs in one namespace and gathers on its end of
the pair (``server_address``); its synthetic callers run in the other and gather on theirs
(``client_address``). Two namespaces, not one: libnice sends from the interface it gathered
on, and a packet leaving one interface for an address of the same namespace is dropped (a
local source address arriving from outside), so the ends must be in different namespaces, as
two hosts would be. Nothing is added to the machine's own network namespace and no packet
leaves the pair.

Needs root (``ip netns``, ``setns``).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

NETNS_DIR = Path("/run/netns")
PREFIX = "silkline-janus-"
CLIENT_ADDRESS = "10.250.0.1"
SERVER_ADDRESS = "10.250.0.2"
PREFIX_LEN = 30
_CLONE_NEWNET = 0x40000000


class NetworkError(RuntimeError):
    pass


def available() -> str | None:
    """None when a test network can be made here, else why not."""
    if os.geteuid() != 0:
        return "needs root (ip netns, setns)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is missing"
    return None


def _ip(*args: str, timeout: float = 10.0) -> None:
    proc = subprocess.run(["ip", *args], check=False, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {proc.stderr.strip() or proc.returncode}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> list[str]:
    """Remove namespaces this module made for runs whose process is gone (a run killed by
    SIGKILL cannot clean up after itself). Only names ``silkline-janus-<pid>[-clients]`` are
    touched."""
    removed: list[str] = []
    if not NETNS_DIR.is_dir():
        return removed
    for entry in NETNS_DIR.iterdir():
        match = re.fullmatch(re.escape(PREFIX) + r"(\d+)(-clients)?", entry.name)
        if match and not _pid_alive(int(match.group(1))):
            try:
                _ip("netns", "delete", entry.name)
                removed.append(entry.name)
            except (NetworkError, subprocess.TimeoutExpired):
                pass
    return removed


@dataclass
class TestNetwork:
    """``with TestNetwork() as net:`` creates the two namespaces and the pair; leaving removes
    them, whatever happened inside (the veth pair goes with the namespaces)."""

    __test__ = False  # not a pytest test class

    name: str = ""  # the server's namespace
    client_name: str = ""  # the callers' namespace
    client_address: str = CLIENT_ADDRESS
    server_address: str = SERVER_ADDRESS
    client_interface: str = ""
    server_interface: str = ""
    created: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        pid = os.getpid()
        self.name = self.name or f"{PREFIX}{pid}"
        self.client_name = self.client_name or f"{self.name}-clients"
        # interface names: at most 15 characters
        self.client_interface = self.client_interface or f"slj{pid % 10_000_000}c"
        self.server_interface = self.server_interface or f"slj{pid % 10_000_000}s"

    def create(self) -> Self:
        reason = available()
        if reason:
            raise NetworkError(f"cannot make the test network: {reason}")
        remove_stale()
        try:
            for ns in (self.name, self.client_name):
                _ip("netns", "add", ns)
                self.created.append(ns)
            _ip("-n", self.name, "link", "add", self.server_interface, "type", "veth",
                "peer", "name", self.client_interface, "netns", self.client_name)
            _ip("-n", self.name, "addr", "add", f"{self.server_address}/{PREFIX_LEN}", "dev", self.server_interface)
            _ip("-n", self.client_name, "addr", "add", f"{self.client_address}/{PREFIX_LEN}",
                "dev", self.client_interface)
            for ns, dev in ((self.name, "lo"), (self.name, self.server_interface),
                            (self.client_name, "lo"), (self.client_name, self.client_interface)):
                _ip("-n", ns, "link", "set", dev, "up")
        except BaseException:
            self.destroy()
            raise
        return self

    def destroy(self) -> None:
        errors = []
        while self.created:
            ns = self.created.pop()
            try:
                _ip("netns", "delete", ns)
            except (NetworkError, subprocess.TimeoutExpired) as exc:
                errors.append(str(exc))
        if errors:
            raise NetworkError("; ".join(errors))

    def __enter__(self) -> Self:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def exec_prefix(self) -> list[str]:
        """Prefix for a command to run in the server's namespace (``ip netns exec`` keeps the
        PID: it enters the namespace and then execs the command)."""
        return ["ip", "netns", "exec", self.name]


def enter(name: str) -> None:
    """Move the calling process into namespace ``name``. Call it first thing in a fresh,
    single-threaded process: the network namespace is per thread."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(NETNS_DIR / name, os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetworkError(f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)

"""``silkline users …`` and ``silkline keys …``: the operator's commands for staff accounts and
shop API keys. They write the same store the server reads (the data folder's JSON files, or
Redis with ``--redis``), so they work with the server running. A password comes from a prompt
or from standard input (``--password-stdin``), never from the command line (``ps`` shows it)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from media.clock import SystemClock
from signaling.centre.accounts import StaffAccounts
from signaling.centre.api_keys import ApiKeys
from signaling.errors import ErrorCode, SignalingError
from signaling.state.registry import Registry, make_registry
from silkline.config import ENV, from_env


def _state_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help=f"the server's data folder ({ENV['data_dir']})")
    parser.add_argument("--redis", dest="redis_url", metavar="URL", help=f"the server's Redis ({ENV['redis_url']})")
    parser.add_argument("--json", action="store_true", help="print JSON")


def add_parsers(sub: Any) -> None:
    users = sub.add_parser("users", help="staff accounts (agents, supervisors, QA, admins)")
    user_sub = users.add_subparsers(dest="action", required=True)
    add = user_sub.add_parser("add", help="add an account (asks for the password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["agent", "supervisor", "qa", "admin"])
    add.add_argument("--display-name")
    add.add_argument("--skill", action="append", default=[], metavar="NAME=LEVEL",
                     help="an agent's skill and level 1-5 (repeatable; default general=3)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    _state_options(add)
    listing = user_sub.add_parser("list", help="list accounts")
    _state_options(listing)
    for action, words in (("disable", "refuse this account's sign-ins"), ("enable", "allow them again")):
        one = user_sub.add_parser(action, help=words)
        one.add_argument("name")
        _state_options(one)
    reset = user_sub.add_parser("reset", help="set a new password and clear a lockout")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true")
    _state_options(reset)

    keys = sub.add_parser("keys", help="shop API keys for POST /api/shopper-tokens")
    key_sub = keys.add_subparsers(dest="action", required=True)
    key_add = key_sub.add_parser("add", help="create a key for a shop (printed once)")
    key_add.add_argument("shop")
    _state_options(key_add)
    key_list = key_sub.add_parser("list", help="list keys (never the secret)")
    _state_options(key_list)
    revoke = key_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    _state_options(revoke)


def _registry(args: argparse.Namespace, kind: str) -> Registry:
    config = from_env()
    data_dir = args.data_dir or config.data_dir
    return make_registry(kind, data_dir, args.redis_url or config.redis_url)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, "the two passwords differ")
    return first


def _skills(pairs: list[str]) -> dict[str, int] | None:
    if not pairs:
        return None
    skills: dict[str, int] = {}
    for pair in pairs:
        name, _, level = pair.partition("=")
        if not level.isdigit():
            raise SignalingError(ErrorCode.INVALID_MESSAGE, f"--skill {pair!r}: write NAME=LEVEL (1-5)")
        skills[name.strip()] = int(level)
    return skills


def _print(args: argparse.Namespace, data: Any, lines: list[str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for line in lines:
            print(line)


async def _users(args: argparse.Namespace) -> None:
    registry = _registry(args, "accounts")
    await registry.open()
    try:
        accounts = StaffAccounts(registry, SystemClock())
        if args.action == "add":
            account = await accounts.add(args.name, args.role, _password(args), args.display_name,
                                         _skills(args.skill))
            _print(args, account.public(), [f"added {account.name} ({account.role})"])
        elif args.action == "list":
            found = await accounts.list()
            _print(args, [a.public() for a in found],
                   [f"{a.name:24} {a.role:10} {'disabled' if a.disabled else 'active':8} {a.display_name}"
                    for a in found])
        elif args.action in ("disable", "enable"):
            account = await accounts.set_disabled(args.name, args.action == "disable")
            _print(args, account.public(), [f"{account.name}: {args.action}d"])
        elif args.action == "reset":
            account = await accounts.reset(args.name, _password(args))
            _print(args, account.public(), [f"{account.name}: new password set, lockout cleared"])
    finally:
        await registry.close()


async def _keys(args: argparse.Namespace) -> None:
    registry = _registry(args, "api_keys")
    await registry.open()
    try:
        keys = ApiKeys(registry, SystemClock())
        if args.action == "add":
            created, secret = await keys.create(args.shop)
            _print(args, {**created.public(), "key": secret},
                   [f"key {created.key_id} for shop {created.shop} (shown once, keep it secret):", secret])
        elif args.action == "list":
            found = await keys.list()
            _print(args, [k.public() for k in found],
                   [f"{k.key_id:20} {k.shop:24} {'revoked' if k.revoked else 'active'}" for k in found])
        elif args.action == "revoke":
            revoked = await keys.revoke(args.key_id)
            _print(args, revoked.public(), [f"key {revoked.key_id} revoked"])
    finally:
        await registry.close()


def run(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_users(args) if args.command == "users" else _keys(args))
    except SignalingError as exc:
        print(f"silkline: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    return 0

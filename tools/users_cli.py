"""`modelgate user add|remove|list`: the internal users file the API authenticates against.

The password is asked for twice on a terminal, or read as one line from stdin otherwise
(`printf '%s\\n' "$PW" | modelgate user add ...`); only its bcrypt hash is written. The API
notices the changed file within a second: no restart.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from common.security.passwords import PasswordError, hash_password
from common.security.roles import ROLES
from common.security.users_file import (
    UserEntry,
    UsersFileError,
    add_user,
    check_name,
    read_users,
    remove_user,
)
from common.settings import Settings


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the user sub-command's actions and flags."""
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a user, or replace one of the same name")
    add.add_argument("name", help="the user name (no spaces, no ':')")
    add.add_argument(
        "--backend-role",
        action="append",
        default=[],
        metavar="ROLE",
        help="a backend role (repeatable): what access-controlled records are shared by",
    )
    add.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE",
        help=f"a security role (repeatable): {', '.join(ROLES)}",
    )
    add.add_argument("--description", default="", help="a note kept with the user")
    remove = actions.add_parser("remove", help="remove a user")
    remove.add_argument("name")
    actions.add_parser("list", help="list the users and their roles (never the hashes)")


def main(args: argparse.Namespace) -> int:
    """Run the chosen action on the users file of the settings."""
    path = Settings.from_env().users_path
    try:
        if args.action == "add":
            return _add(path, args)
        if args.action == "remove":
            return _remove(path, args.name)
        return _list(path)
    except (UsersFileError, PasswordError) as error:
        print(f"modelgate user: {error}", file=sys.stderr)
        return 1


def _add(path: Path, args: argparse.Namespace) -> int:
    name = check_name(args.name)
    for role in args.role:
        if role not in ROLES:
            print(f"modelgate user: note: role {role!r} grants nothing here", file=sys.stderr)
    entry = UserEntry(
        hash=hash_password(_password()),
        backend_roles=tuple(dict.fromkeys(args.backend_role)),
        roles=tuple(dict.fromkeys(args.role)),
        description=args.description,
    )
    replaced = add_user(path, name, entry)
    print(f"{'replaced' if replaced else 'added'} user {name} in {path}")
    return 0


def _password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise PasswordError("the passwords differ")
    return first


def _remove(path: Path, name: str) -> int:
    if not remove_user(path, name):
        print(f"modelgate user: no user {name} in {path}", file=sys.stderr)
        return 1
    print(f"removed user {name} from {path}")
    return 0


def _list(path: Path) -> int:
    for name, entry in read_users(path).items():
        backend = ",".join(entry.backend_roles) or "-"
        print(f"{name}\troles={','.join(entry.roles) or '-'}\tbackend_roles={backend}")
    return 0

"""The internal users file: the Security plugin's internal_users.yml shape, bcrypt hashes only.

    _meta: {type: internalusers, config_version: 2}
    alice:
      hash: "$2b$12$..."
      backend_roles: [analysts]
      opendistro_security_roles: [ml_full_access]
      description: optional

Only hashes are accepted, never a plain-text password. The file is written whole to a
temporary file beside it (mode 0600) and renamed over it, so a reader sees the old or the
new file, never half of one.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml

from common.security.passwords import is_bcrypt_hash
from common.security.user import User

META_KEY = "_meta"
META = {"type": "internalusers", "config_version": 2}
ROLES_KEY = "opendistro_security_roles"
# What the Security plugin's file may hold per user; anything else is refused, so a misspelt
# field (say `backend_role`) cannot silently drop a user's roles.
KNOWN_FIELDS = frozenset(
    {"hash", "backend_roles", ROLES_KEY, "description", "reserved", "hidden", "attributes"}
)
USER_NAME = re.compile(r"[^\s:]+")  # Basic auth cannot carry a ':' in the name
FILE_MODE = 0o600


class UsersFileError(ValueError):
    """The users file cannot be read or holds an entry that is not a valid user."""


class UserEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One user of the file: the password hash and the roles it grants."""

    hash: str
    backend_roles: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    description: str = ""

    def user(self, name: str) -> User:
        """The authenticated identity this entry gives."""
        return User(name=name, backend_roles=self.backend_roles, roles=self.roles)


def check_name(name: str) -> str:
    """Return name if it can be a user name (no spaces, no ':'), else raise UsersFileError."""
    if name == META_KEY or not USER_NAME.fullmatch(name):
        raise UsersFileError(f"{name!r} cannot be a user name (no spaces, no ':')")
    return name


def read_users(path: Path) -> dict[str, UserEntry]:
    """Parse the users file; a missing file holds no users."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise UsersFileError(f"cannot read the users file {path}: {error.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UsersFileError(f"the users file {path} is not valid YAML: {error}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise UsersFileError(f"the users file {path} must map user names to users")
    return {
        check_name(str(name)): _entry(path, str(name), body)
        for name, body in document.items()
        if name != META_KEY
    }


def _entry(path: Path, name: str, body: Any) -> UserEntry:
    where = f"user {name!r} in {path}"
    if not isinstance(body, dict):
        raise UsersFileError(f"{where} must be a mapping with a hash")
    unknown = sorted(set(map(str, body)) - KNOWN_FIELDS)
    if "password" in unknown:
        raise UsersFileError(f"{where} has a plain-text password: use `modelgate user add`")
    if unknown:
        raise UsersFileError(f"{where} has unknown field(s): {', '.join(unknown)}")
    hashed = body.get("hash")
    if not isinstance(hashed, str) or not is_bcrypt_hash(hashed):
        raise UsersFileError(f"{where} needs a bcrypt hash ($2a$/$2b$/$2y$)")
    return UserEntry(
        hash=hashed,
        backend_roles=_names(where, "backend_roles", body.get("backend_roles")),
        roles=_names(where, ROLES_KEY, body.get(ROLES_KEY)),
        description=str(body.get("description") or ""),
    )


def _names(where: str, field: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UsersFileError(f"{where}: {field} must be a list of names")
    return tuple(dict.fromkeys(value))  # in order, once each


def write_users(path: Path, users: Mapping[str, UserEntry]) -> None:
    """Write the whole file atomically, readable by its owner only."""
    document: dict[str, Any] = {META_KEY: META}
    for name, entry in users.items():
        body: dict[str, Any] = {
            "hash": entry.hash,
            "backend_roles": list(entry.backend_roles),
            ROLES_KEY: list(entry.roles),
        }
        if entry.description:
            body["description"] = entry.description
        document[name] = body
    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600 before anything is written to it.
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, FILE_MODE)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def add_user(path: Path, name: str, entry: UserEntry) -> bool:
    """Add or replace a user; True if it replaced one."""
    users = read_users(path)
    replaced = check_name(name) in users
    users[name] = entry
    write_users(path, users)
    return replaced


def remove_user(path: Path, name: str) -> bool:
    """Remove a user; False if there was none of that name."""
    users = read_users(path)
    if users.pop(name, None) is None:
        return False
    write_users(path, users)
    return True

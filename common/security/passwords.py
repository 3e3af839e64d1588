"""bcrypt password hashes, as the Security plugin's internal users keep them."""

from __future__ import annotations

import functools

import bcrypt

# The Security plugin's hash tool uses 12 rounds: about 0.25 s per check on a server core.
ROUNDS = 12
# bcrypt reads at most 72 bytes; longer passwords would be silently cut, so they are refused.
MAX_PASSWORD_BYTES = 72
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


class PasswordError(ValueError):
    """A password that cannot be hashed (empty or too long)."""


def hash_password(password: str, rounds: int = ROUNDS) -> str:
    """The bcrypt hash of password; refuses an empty one or one over 72 bytes."""
    raw = password.encode()
    if not raw:
        raise PasswordError("the password is empty")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise PasswordError(f"the password is longer than {MAX_PASSWORD_BYTES} bytes")
    return bcrypt.hashpw(raw, bcrypt.gensalt(rounds)).decode()


def is_bcrypt_hash(text: str) -> bool:
    """Whether text looks like a bcrypt hash (not a plain-text password)."""
    return text.startswith(BCRYPT_PREFIXES) and len(text) == 60


def verify_password(password: str, hashed: str | None) -> bool:
    """Whether password matches hashed; with no hash, spend the same time and say no."""
    raw = password.encode()
    if hashed is None or len(raw) > MAX_PASSWORD_BYTES:
        bcrypt.checkpw(b"x", _dummy_hash())
        return False
    try:
        return bcrypt.checkpw(raw, hashed.encode())
    except ValueError:  # a malformed hash in the users file
        return False


@functools.cache
def _dummy_hash() -> bytes:
    """Checked against when the user does not exist: a wrong name then costs as long as a
    wrong password, so answer times do not tell which names exist."""
    return bcrypt.hashpw(b"no such user", bcrypt.gensalt(ROUNDS))

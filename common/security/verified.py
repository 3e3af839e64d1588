"""Credentials checked recently, so bcrypt (a quarter second by design) runs once, not per request.

Entries are keyed by a keyed hash (BLAKE2b, a MAC) of the Authorization header's value under
a key made afresh in each process: the password itself is never kept, and the key never
leaves memory. Hashing the header as sent also spares a known client the base64 decoding. An
entry holds for TTL_S, and only for the users file generation it was checked against, so a
changed password or a removed user takes effect with the file.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from common.security.user import User

TTL_S = 60.0
MAX_ENTRIES = 10_000
STRIPES = 64


@dataclass(frozen=True, slots=True)
class _Entry:
    user: User
    generation: int
    expires: float


class VerifiedCredentials:
    """Credential fingerprints that verified, each with the User it gave."""

    def __init__(self, ttl_s: float = TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self._key = secrets.token_bytes(32)
        self._ttl_s = ttl_s
        self._max = max_entries
        self._entries: dict[bytes, _Entry] = {}
        self._stripes = tuple(threading.Lock() for _ in range(STRIPES))

    def fingerprint(self, authorization: str) -> bytes:
        """A keyed hash of the credentials as the client sent them (its Authorization header)."""
        return hashlib.blake2b(authorization.encode(), key=self._key, digest_size=32).digest()

    def get(self, fingerprint: bytes, generation: int) -> User | None:
        """The user these credentials verified as, if recently and for this generation."""
        entry = self._entries.get(fingerprint)
        if entry is None or entry.generation != generation or entry.expires < time.monotonic():
            return None
        return entry.user

    def put(self, fingerprint: bytes, user: User, generation: int) -> None:
        """Remember a successful check."""
        if len(self._entries) >= self._max:
            self._entries.clear()  # rare (that many distinct good logins a minute): start over
        self._entries[fingerprint] = _Entry(user, generation, time.monotonic() + self._ttl_s)

    def once(self, fingerprint: bytes, check: Callable[[], User | None]) -> User | None:
        """Run check with no other thread checking the same credentials at the same time.

        A burst of requests with one new credential (a client opening 64 connections) would
        otherwise run 64 bcrypt checks at once; the waiting threads find the first one's
        result in the cache instead.
        """
        # One lock per stripe of fingerprints: two different credentials rarely share one,
        # and when they do, their checks just take turns.
        with self._stripes[fingerprint[0] % STRIPES]:
            return check()

"""HTTP basic authentication against the internal users, as the Security plugin does it.

A request's credentials are checked with bcrypt once and then found in VerifiedCredentials
for a minute. Only a check that misses that cache looks at the address's login block and,
failing, counts against it: a known good credential costs no Redis call and no bcrypt.
"""

from __future__ import annotations

import base64
import binascii

from common.security.directory import UserDirectory
from common.security.errors import AuthenticationError, LoginBlockedError
from common.security.failures import LoginFailures
from common.security.passwords import verify_password
from common.security.user import User
from common.security.verified import VerifiedCredentials

BASIC = "basic "


def parse_basic(authorization: str | None) -> tuple[str, str] | None:
    """(name, password) of a `Basic` Authorization header; None if absent or malformed."""
    if not authorization or authorization[: len(BASIC)].lower() != BASIC:
        return None
    try:
        decoded = base64.b64decode(authorization[len(BASIC) :].strip(), validate=True)
        text = decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, colon, password = text.partition(":")
    if not colon or not name:
        return None
    return name, password


class Authenticator:
    """Turns an Authorization header into a User, or refuses it."""

    def __init__(
        self,
        directory: UserDirectory,
        failures: LoginFailures,
        verified: VerifiedCredentials | None = None,
    ) -> None:
        self.directory = directory
        self._failures = failures
        self._verified = verified or VerifiedCredentials()

    def authenticate(self, authorization: str | None, address: str) -> User:
        """The user the header names and proves.

        Raises:
            AuthenticationError: no header, a malformed one, or wrong credentials.
            LoginBlockedError: the address failed too often lately (checked on a cache miss).
        """
        if not authorization:
            raise AuthenticationError()
        generation = self.directory.refresh()
        fingerprint = self._verified.fingerprint(authorization)
        user = self._verified.get(fingerprint, generation)
        if user is not None:
            return user
        credentials = parse_basic(authorization)
        if credentials is None:
            raise AuthenticationError()
        name, password = credentials

        def check() -> User | None:
            # Another thread may have checked these credentials while this one waited.
            found = self._verified.get(fingerprint, generation)
            return found or self._check(name, password, address, fingerprint, generation)

        user = self._verified.once(fingerprint, check)
        if user is None:
            raise AuthenticationError()
        return user

    def _check(
        self, name: str, password: str, address: str, fingerprint: bytes, generation: int
    ) -> User | None:
        retry_after = self._failures.blocked_for(address)
        if retry_after:
            raise LoginBlockedError(retry_after)
        entry = self.directory.get(name)
        if entry is None or not verify_password(password, entry.hash):
            if entry is None:
                verify_password(password, None)  # as slow as a wrong password
            self._failures.record(address)
            return None
        user = entry.user(name)
        self._verified.put(fingerprint, user, generation)
        return user

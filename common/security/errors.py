"""The Security plugin's refusals, in the one exception tree (common/errors.py's root).

MLCommonsError
 +-- SecurityError (security_exception)
      +-- AuthenticationError (401: no or wrong credentials; the API adds the Basic challenge)
      +-- ForbiddenError (403: the user's roles lack the action's permission)
      +-- LoginBlockedError (429: too many failed logins from the client's address)
"""

from __future__ import annotations

from common.errors import MLCommonsError


class SecurityError(MLCommonsError):
    error_type = "security_exception"


class AuthenticationError(SecurityError):
    status = 401

    def __init__(self, reason: str = "Unauthorized") -> None:
        super().__init__(reason)


class ForbiddenError(SecurityError):
    status = 403


class LoginBlockedError(SecurityError):
    """Refused without checking the credentials; retry_after_s says for how long."""

    status = 429

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"Too many failed logins from this address; try again in {retry_after_s} seconds"
        )
        self.retry_after_s = retry_after_s

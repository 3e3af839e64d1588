"""Who is calling: the identity the Security plugin puts in ML Commons' thread context.

The API authenticates a request into a User; access-control rules (common/) take the User,
or None when security is off (ML Commons: user == null, every check passes).
"""

from __future__ import annotations

import msgspec

ADMIN_ROLE = "all_access"


class User(msgspec.Struct, frozen=True, kw_only=True):
    """An authenticated user: name, backend roles (shared with others) and security roles."""

    name: str
    backend_roles: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        """ML Commons' admin: a user holding the all_access role."""
        return ADMIN_ROLE in self.roles

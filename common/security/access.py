"""What connector and model-group access rules share: access modes, owners, backend roles.

Pure functions of a User (None when security is off, as ML Commons' user == null) and a
record; the rules of each kind are in connector_access.py and model_access.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from common.records import Owner
from common.security.user import User

PUBLIC = "public"
PRIVATE = "private"
RESTRICTED = "restricted"
MODES = frozenset({PUBLIC, PRIVATE, RESTRICTED})

# A search filter over a record's public view (its _source): True when the caller may see it.
Visible = Callable[[dict[str, Any]], bool]


def access_mode(value: object) -> str | None:
    """ML Commons' AccessMode.from: the lower-cased name, any other value silently None."""
    if not isinstance(value, str):
        return None
    lowered = value.lower()
    return lowered if lowered in MODES else None


def owner_of(user: User) -> Owner:
    """The owner a record created by this user stores (ML Commons serialises the User)."""
    return Owner(name=user.name, backend_roles=list(user.backend_roles), roles=list(user.roles))


def is_owner(owner: Owner | None, user: User) -> bool:
    """True when the record's owner is this user (compared by name, as ML Commons does)."""
    return owner is not None and owner.name == user.name


def shares_role(user: User, roles: Iterable[str] | None) -> bool:
    """True when the user holds one of the record's backend roles."""
    return roles is not None and not set(user.backend_roles).isdisjoint(roles)


def holds_all(user: User, roles: Iterable[str]) -> bool:
    """True when the user holds every one of these backend roles."""
    return set(user.backend_roles).issuperset(roles)


@dataclass(frozen=True)
class AccessFields:
    """What a connector or model group created under access control stores."""

    owner: Owner
    access: str
    backend_roles: list[str] | None


@dataclass(frozen=True)
class AccessRequest:
    """The access-control fields of a request body, as ML Commons parses them."""

    mode: str | None
    add_all: bool | None
    backend_roles: list[str] | None

    @classmethod
    def of(cls, body: dict[str, Any]) -> AccessRequest:
        """Read access_mode, add_all_backend_roles and backend_roles from a validated body."""
        add_all = body.get("add_all_backend_roles")
        roles = body.get("backend_roles")
        return cls(
            mode=access_mode(body.get("access_mode")),
            add_all=add_all if isinstance(add_all, bool) else None,
            backend_roles=None if roles is None else [str(role) for role in roles],
        )

    @property
    def adds_all(self) -> bool:
        """add_all_backend_roles is true."""
        return self.add_all is True

    @property
    def names_roles(self) -> bool:
        """backend_roles is given and not empty."""
        return bool(self.backend_roles)


def visible_to(user: User) -> Visible:
    """The search filter ML Commons ANDs for a non-admin (addUserBackendRolesFilter).

    public, OR a backend role in common, OR private and owned by the user. A record without
    owner or access (made before access control was on) matches none of these, as in
    ML Commons, though GET still allows it.
    """
    roles = set(user.backend_roles)

    def visible(doc: dict[str, Any]) -> bool:
        access = doc.get("access")
        if access == PUBLIC:
            return True
        if not roles.isdisjoint(doc.get("backend_roles") or ()):
            return True
        owner = doc.get("owner")
        return access == PRIVATE and isinstance(owner, dict) and owner.get("name") == user.name

    return visible

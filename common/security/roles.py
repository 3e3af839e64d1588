"""The Security plugin's roles this API knows, and whether a user's roles permit an action.

Actions are ML Commons' transport action names (api/route_actions.py maps each route to
one); permissions are the patterns of the plugin's roles.yml, with `*` matching anything.
A role not listed here grants nothing.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterable

from common.security.user import ADMIN_ROLE, User

ML = "cluster:admin/opensearch/ml/"
# The plugin's static action groups used by these roles.
ACTION_GROUPS: dict[str, tuple[str, ...]] = {
    "cluster_monitor": ("cluster:monitor/*",),
    "cluster_all": ("cluster:*",),
}
# roles.yml: ml_read_access lists its actions one by one; those this API serves are here.
_ML_READ = tuple(
    ML + action
    for action in (
        "config/get",
        "connectors/get",
        "connectors/search",
        "controllers/get",
        "model_groups/get",
        "model_groups/search",
        "models/get",
        "models/search",
        "profile/nodes",
        "stats/nodes",
        "tasks/get",
        "tasks/search",
        "tools/get",
        "tools/list",
    )
)
ROLES: dict[str, tuple[str, ...]] = {
    ADMIN_ROLE: ("*",),
    "ml_full_access": (ML + "*", "cluster_monitor"),
    "ml_read_access": _ML_READ,
    # The name issue 10 uses for ml_read_access; the same permissions.
    "ml_readonly_access": _ML_READ,
}


def _patterns(roles: Iterable[str]) -> list[str]:
    found: list[str] = []
    for role in roles:
        for permission in ROLES.get(role, ()):
            found.extend(ACTION_GROUPS.get(permission, (permission,)))
    return found


@functools.lru_cache(maxsize=4096)
def permits(roles: tuple[str, ...], action: str) -> bool:
    """Whether any of the roles grants the action (remembered: asked once per request)."""
    return any(fnmatch.fnmatchcase(action, pattern) for pattern in _patterns(roles))


def describe(user: User) -> str:
    """The user as the Security plugin prints it in messages and authinfo."""
    roles = ", ".join(user.backend_roles)
    return f"User [name={user.name}, backend_roles=[{roles}], requestedTenant=null]"


def denial(action: str, user: User) -> str:
    """The Security plugin's 403 reason for a missing permission."""
    return f"no permissions for [{action}] and {describe(user)}"

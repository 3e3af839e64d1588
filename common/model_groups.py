"""Model group records: unique names and version counters."""

from __future__ import annotations

from typing import Any

from msgspec import structs

from common.errors import IllegalArgumentError
from common.records import ModelGroup, now_ms, to_wire
from common.security.access import AccessFields
from common.store import Store

ACCESS_FIELDS_MESSAGE = (
    "You cannot specify model access control parameters because the Security plugin or model "
    "access control is disabled on your cluster."
)


def create_group(
    store: Store,
    group_id: str,
    name: str,
    description: str | None,
    *,
    access: AccessFields | None = None,
) -> str:
    """Store a new model group, public unless registered under access control (`access`);
    a taken name is ML Commons' 400."""
    holder = store.group_names.claim(name, group_id)
    if holder is not None:
        raise _name_taken(holder)
    stamp = now_ms()
    group = ModelGroup(
        name=name,
        latest_version=0,
        description=description,
        backend_roles=None if access is None else access.backend_roles,
        owner=None if access is None else access.owner,
        access="public" if access is None else access.access,
        created_time=stamp,
        last_updated_time=stamp,
    )
    store.model_groups.put(group_id, group)
    return group_id


def require_free_name(store: Store, name: str) -> None:
    """Refuse a name another model group holds (ML Commons' 400)."""
    holder = store.group_names.id_for(name)
    if holder is not None:
        raise _name_taken(holder)


def _name_taken(holder: str) -> IllegalArgumentError:
    return IllegalArgumentError(
        f"The name you provided is already being used by a model group with ID: {holder}."
    )


def find_or_create_group(store: Store, group_id: str, name: str, description: str | None) -> str:
    """Return the group named after a model, creating it when absent (ML Commons' rule)."""
    existing = store.group_names.id_for(name)
    if existing is not None:
        return existing
    try:
        return create_group(store, group_id, name, description)
    except IllegalArgumentError:
        # Another register created it between our lookup and claim: reuse theirs.
        return str(store.group_names.id_for(name))


def group_view(store: Store, group: ModelGroup, group_id: str) -> dict[str, Any]:
    """Return a group's wire JSON with its live latest_version."""
    live = structs.replace(group, latest_version=store.group_names.version(group_id))
    return to_wire(live)

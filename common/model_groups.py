"""Model group records: unique names and version counters."""

from __future__ import annotations

from typing import Any

from common.errors import IllegalArgumentError
from common.store import MODEL_GROUP, Doc, Store, now_ms

ACCESS_FIELDS_MESSAGE = (
    "You cannot specify model access control parameters because the Security plugin or model "
    "access control is disabled on your cluster."
)


def create_group(store: Store, group_id: str, name: str, description: str | None) -> str:
    """Store a new public model group; a taken name is ML Commons' 400."""
    holder = store.claim_group_name(name, group_id)
    if holder is not None:
        raise IllegalArgumentError(
            f"The name you provided is already being used by a model group with ID: {holder}."
        )
    stamp = now_ms()
    doc: dict[str, Any] = {"name": name, "latest_version": 0}
    if description is not None:
        doc["description"] = description
    doc.update(access="public", created_time=stamp, last_updated_time=stamp)
    store.put(MODEL_GROUP, group_id, doc)
    return group_id


def find_or_create_group(store: Store, group_id: str, name: str, description: str | None) -> str:
    """Return the group named after a model, creating it when absent (ML Commons' rule)."""
    existing = store.group_id_for_name(name)
    if existing is not None:
        return existing
    try:
        return create_group(store, group_id, name, description)
    except IllegalArgumentError:
        # Another register created it between our lookup and claim: reuse theirs.
        return str(store.group_id_for_name(name))


def group_view(store: Store, doc: Doc, group_id: str) -> Doc:
    """Return a group with its live latest_version."""
    return {**doc, "latest_version": store.group_version(group_id)}

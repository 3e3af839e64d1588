"""PUT updates of connectors and model groups, with ML Commons' rules and messages.

Model updates have their own module (common/model_updates.py): they touch serving.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgspec import structs

from common import connectors as rules
from common.crypto import CredentialCipher
from common.errors import IllegalArgumentError, NotFoundError, StatusError
from common.model_groups import ACCESS_FIELDS_MESSAGE
from common.records import Connector, ModelGroup, now_ms
from common.security import connector_access, model_access
from common.security.access import AccessRequest
from common.security.user import User
from common.store import Store

GROUP_UPDATED = {"status": "Updated"}


def update_response(index: str, record_id: str) -> dict[str, Any]:
    """Return OpenSearch's update-document response, as ML Commons passes it through."""
    return {
        "_index": index,
        "_id": record_id,
        "_version": 2,
        "result": "updated",
        "forced_refresh": True,
        "_shards": {"total": 1, "successful": 1, "failed": 0},
        "_seq_no": 1,
        "_primary_term": 1,
    }


def connector_in_use(store: Store, connector_id: str) -> list[str]:
    """Return the ids of the served (deployed, partly deployed, deploying) models using it."""
    return [
        model_id
        for model_id, model in store.models.all()
        if model.connector_id == connector_id and model.is_serving
    ]


def update_connector(
    store: Store,
    cipher: CredentialCipher,
    connector_id: str,
    body: dict[str, Any],
    trusted: tuple[str, ...],
    *,
    allowed: Callable[[Connector], bool] = lambda _: True,
    access_control: bool = False,
) -> Connector:
    """Merge a PUT body into a connector no served model uses; return the stored result.

    `allowed` is the caller's permission on the stored connector; under `access_control`
    the access fields are taken, else refused.

    ML Commons refuses while a model deployed on the coordinating node uses the connector.
    Here every API process coordinates every model, so any served model blocks the update: a
    node would keep serving the connector it loaded (a model's serving_generation follows
    its connector_id, not the connector's content).
    """
    message = f"Failed to find connector with the provided connector id: {connector_id}"
    current = store.connectors.require(connector_id, message)
    if not allowed(current):
        raise IllegalArgumentError(connector_access.no_update(connector_id))
    if not access_control:
        rules.check_access_fields(body)
    users = connector_in_use(store, connector_id)
    if users:
        raise StatusError(
            f"{len(users)} models are still using this connector, please undeploy the models "
            f"first: [{', '.join(users)}]",
            status=400,
        )
    stamp = now_ms()

    def change(current: Connector) -> Connector:
        merged = rules.merge_update(current, body, cipher, stamp)
        rules.check_merged(merged, trusted)
        return merged

    try:
        return store.connectors.update(connector_id, change)
    except NotFoundError:  # deleted while we checked
        raise NotFoundError(message) from None


def update_group(
    store: Store,
    group_id: str,
    body: dict[str, Any],
    *,
    user: User | None = None,
    access_control: bool = False,
) -> ModelGroup:
    """Update a model group; blank name or description are ignored, as ML Commons does.

    Under `access_control` (a user and the setting on) the access fields follow ML Commons'
    update rules; otherwise they are refused.
    """
    message = f"Failed to find model group with the provided model group id: {group_id}"
    group = store.model_groups.require(group_id, message)
    request = AccessRequest.of(body)
    if access_control and user is not None:
        model_access.check_update(request, model_access.changes_access(body), user, group)
        access = model_access.updated_access(request, user)
    elif rules.has_access_fields(body):
        raise IllegalArgumentError(ACCESS_FIELDS_MESSAGE)
    else:
        access = {}
    name = _given(body.get("name"))
    claimed = name is not None and name != group.name
    if claimed:
        _claim_name(store, str(name), group_id)
    description = _given(body.get("description"))
    try:
        updated = store.model_groups.update(group_id, _renamed(name, description, access))
    except NotFoundError:
        if claimed:
            store.group_names.release(str(name))
        raise NotFoundError(message) from None
    if claimed and updated.name != group.name:
        store.group_names.release(group.name)
    return updated


def _given(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _claim_name(store: Store, name: str, group_id: str) -> None:
    holder = store.group_names.claim(name, group_id)
    if holder is not None and holder != group_id:
        raise IllegalArgumentError(
            f"The name you provided is already being used by another model with ID: {holder}. "
            "Please provide a different name"
        )


def _renamed(
    name: str | None, description: str | None, access: dict[str, Any]
) -> Callable[[ModelGroup], ModelGroup]:
    def change(group: ModelGroup) -> ModelGroup:
        changes: dict[str, Any] = {"last_updated_time": now_ms(), **access}
        if name is not None:
            changes["name"] = name
        if description is not None:
            changes["description"] = description
        return structs.replace(group, **changes)

    return change

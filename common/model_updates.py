"""PUT models/{id}: ML Commons' rules for changing a registered remote model.

What nodes serve follows at once: a changed connector or connector_id changes the model's
serving_generation, which every predict carries, so the next predict on any node reloads.
is_enabled and rate_limiter are enforced by the API from its view of the record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgspec import structs

from common import connectors as rules
from common.crypto import CredentialCipher
from common.errors import ConflictError, IllegalArgumentError, NotFoundError, StatusError
from common.records import (
    DeploySetting,
    MLModel,
    MLModelState,
    RateLimiter,
    interface_text,
    now_ms,
    to_wire,
)
from common.store import Store

DEPLOYING = frozenset({MLModelState.DEPLOYING, MLModelState.LOADING})
BOTH_CONNECTORS = (
    "Model cannot have both stand-alone connector and internal connector. "
    "Please check your update input body."
)
NO_CONNECTOR_ID = (
    "This remote does not have a connector_id field, maybe it uses an internal connector."
)
NO_INLINE_CONNECTOR = (
    "Cannot update connector settings for this model. The model was created with a "
    "connector_id and does not have an inline connector."
)
Change = Callable[[MLModel], MLModel]


def update_model(
    store: Store,
    cipher: CredentialCipher,
    model_id: str,
    body: dict[str, Any],
    trusted: tuple[str, ...],
    *,
    permitted: Callable[[MLModel], None] = lambda _: None,
) -> MLModel:
    """Apply a PUT body to a model that is not being deployed; return the stored result.

    `permitted` raises when the caller may not make this change (access control), after
    the model is found and not deploying, as ML Commons checks it.
    """
    if body.get("connector_id") and body.get("connector") is not None:
        raise StatusError(BOTH_CONNECTORS, status=400)
    missing = f"Failed to find model to update with the provided model id: {model_id}"
    model = store.models.require(model_id, missing)
    _refuse_deploying(model, model_id)
    permitted(model)
    _check_connector_fields(store, model, body)
    moved = _group_move(store, model, body)  # takes a version number: after every check
    change = _change(model_id, body, moved, lambda c: _inline(c, body, cipher, trusted))
    try:
        updated = store.models.update(model_id, change)
    except NotFoundError:  # deleted meanwhile
        raise NotFoundError(missing) from None
    if "model_ttl_minutes" in (body.get("deploy_setting") or {}):
        setting = updated.deploy_setting
        store.model_access.set_ttl(model_id, setting.model_ttl_minutes if setting else None)
    return updated


def _refuse_deploying(model: MLModel, model_id: str) -> None:
    if model.model_state in DEPLOYING:
        raise ConflictError(
            "Model is deploying. Please wait for the model to complete deployment. "
            f"model ID {model_id}"
        )


def _check_connector_fields(store: Store, model: MLModel, body: dict[str, Any]) -> None:
    connector_id = body.get("connector_id") or None
    if connector_id is not None:
        if model.connector_id is None:
            raise StatusError(NO_CONNECTOR_ID, status=400)
        store.connectors.require(connector_id, f"Failed to find connector:{connector_id}")
    if body.get("connector") is not None and model.connector is None:
        raise StatusError(NO_INLINE_CONNECTOR, status=400)


def _group_move(store: Store, model: MLModel, body: dict[str, Any]) -> dict[str, Any]:
    """Moving to another group makes the model that group's next version (ML Commons)."""
    group_id = body.get("model_group_id") or None
    if group_id is None or group_id == model.model_group_id:
        return {}
    store.model_groups.require(
        group_id,
        "Failed to find the model group with the provided model group id in the update "
        f"model input, MODEL_GROUP_ID: {group_id}",
    )
    return {
        "model_group_id": group_id,
        "model_version": str(store.group_names.next_version(group_id)),
    }


def _change(
    model_id: str,
    body: dict[str, Any],
    moved: dict[str, Any],
    inline: Callable[[MLModel], dict[str, Any]],
) -> Change:
    # Built from the record read inside the transaction, so a concurrent change to the fields
    # this body leaves alone (a deploy's state, say) is kept, not overwritten.
    def change(current: MLModel) -> MLModel:
        _refuse_deploying(current, model_id)
        changes = {**_plain_changes(current, body), **inline(current), **moved}
        return structs.replace(current, **changes, last_updated_time=now_ms())

    return change


def _plain_changes(current: MLModel, body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {
        field: body[field]
        for field in ("name", "description", "is_enabled", "connector_id")
        if body.get(field) is not None and body.get(field) != ""
    }
    if body.get("interface") is not None:
        changes["interface"] = interface_text(body["interface"])
    if body.get("deploy_setting") is not None:
        changes["deploy_setting"] = _deploy_setting(current.deploy_setting, body["deploy_setting"])
    if body.get("rate_limiter") is not None:
        changes["rate_limiter"] = _rate_limiter(current.rate_limiter, body["rate_limiter"])
    if body.get("model_config") is not None:
        changes["model_config"] = _model_config(current, body["model_config"])
    return changes


def _deploy_setting(current: DeploySetting | None, given: dict[str, Any]) -> DeploySetting:
    stored = to_wire(current) if current is not None else {}
    return DeploySetting(**{**stored, **given})


def _rate_limiter(current: RateLimiter | None, given: dict[str, Any]) -> RateLimiter:
    """Merge as MLRateLimiter.update does: a field left out keeps its stored value."""
    merged = {**(to_wire(current) if current is not None else {}), **given}
    if "limit" not in merged or "unit" not in merged:
        raise IllegalArgumentError("A rate_limiter needs both a limit and a unit")
    return RateLimiter.of(merged)


def _inline(
    current: MLModel, body: dict[str, Any], cipher: CredentialCipher, trusted: tuple[str, ...]
) -> dict[str, Any]:
    """Merge a partial inline connector into the model's own, with the connector rules."""
    given = body.get("connector")
    if given is None:
        return {}
    if current.connector is None:
        raise StatusError(NO_INLINE_CONNECTOR, status=400)
    merged = rules.merge_update(current.connector, given, cipher, now_ms())
    rules.check_merged(merged, trusted)
    return {"connector": merged}


def _model_config(current: MLModel, given: dict[str, Any]) -> dict[str, Any]:
    if "model_config" not in MLModel.__struct_fields__:
        # The record has no model_config field yet (common/records.py): refuse rather than
        # answer "updated" and drop it.
        raise IllegalArgumentError("model_config is not supported by this modelgate version")
    merged = _deep_merge(getattr(current, "model_config", None) or {}, given)
    _check_model_config(merged)
    return merged


def _deep_merge(stored: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Merge as OpenSearch merges a partial document: objects key by key, the rest replaced."""
    merged = dict(stored)
    for key, value in given.items():
        old = merged.get(key)
        both = isinstance(old, dict) and isinstance(value, dict)
        merged[key] = _deep_merge(old, value) if both else value  # type: ignore[arg-type]
    return merged


def _check_model_config(config: dict[str, Any]) -> None:
    """A remote text-embedding model needs its dimension, framework and space type."""
    if str(config.get("model_type", "")).lower() != "text_embedding":
        return
    suffix = " must be provided for remote text embedding model"
    if config.get("embedding_dimension") is None:
        raise StatusError("Embedding dimension" + suffix, status=400)
    if config.get("framework_type") is None:
        raise StatusError("Framework type" + suffix, status=400)
    if "space_type" not in (config.get("additional_config") or {}):
        raise StatusError(
            "Space type must be provided in additional_config for remote text embedding model",
            status=400,
        )

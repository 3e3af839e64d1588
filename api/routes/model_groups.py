"""/_plugins/_ml/model_groups: register, get, update, search, delete."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from api.routes.body import json_body
from api.routes.search import delete_response, search_response
from api.schemas import ModelGroupSchema, ModelGroupUpdateSchema, load
from api.services import services
from common.connectors import has_access_fields
from common.errors import ConflictError, IllegalArgumentError, RequestValidationError
from common.ids import new_id
from common.model_groups import ACCESS_FIELDS_MESSAGE, create_group, group_view
from common.updates import GROUP_UPDATED, update_group

blueprint = Blueprint("model_groups", __name__, url_prefix="/_plugins/_ml/model_groups")
INDEX = ".plugins-ml-model-group"


@blueprint.post("/_register")
def register() -> dict[str, Any]:
    """Create a model group with a unique name."""
    body = load(
        ModelGroupSchema,
        json_body(required=True, empty_message="Model group request has empty body"),
    )
    name = body.get("name")
    if name is None or not str(name).strip():
        raise RequestValidationError(
            "Validation Failed: 1: Model group name is required and cannot be null or blank;"
        )
    if has_access_fields(body):
        raise IllegalArgumentError(ACCESS_FIELDS_MESSAGE)
    group_id = create_group(services().store, new_id(), name, body.get("description"))
    return {"model_group_id": group_id, "status": "CREATED"}


@blueprint.get("/<group_id>")
def get(group_id: str) -> dict[str, Any]:
    """Return a model group (without its id, like ML Commons)."""
    store = services().store
    message = f"Failed to find model group with the provided model group id: {group_id}"
    return group_view(store, store.model_groups.require(group_id, message), group_id)


@blueprint.put("/<group_id>")
def update(group_id: str) -> dict[str, Any]:
    """Rename or redescribe a model group; ML Commons answers {"status": "Updated"}."""
    body = json_body(required=True, empty_message="Model group request has empty body")
    update_group(services().store, group_id, load(ModelGroupUpdateSchema, body))
    return dict(GROUP_UPDATED)


@blueprint.route("/_search", methods=["GET", "POST"])
def search() -> dict[str, Any]:
    """Search model groups (match_all)."""
    store = services().store
    pairs = [(gid, group_view(store, group, gid)) for gid, group in store.model_groups.all()]
    return search_response(pairs, INDEX, lambda wire: wire)


@blueprint.delete("/<group_id>")
def delete(group_id: str) -> dict[str, Any]:
    """Delete a model group that holds no model versions."""
    store = services().store
    if any(m.model_group_id == group_id for _, m in store.models.all()):
        raise ConflictError("Cannot delete the model group when it has associated model versions")
    group = store.model_groups.get(group_id)
    if group is not None:
        store.group_names.release(group.name)
    return delete_response(INDEX, group_id, found=store.model_groups.delete(group_id))

"""/_plugins/_ml/model_groups: register, get, update, search, delete."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from api.auth import current_user
from api.routes import guard
from api.routes.body import json_body
from api.routes.search import delete_response, search_response
from api.schemas import ModelGroupSchema, ModelGroupUpdateSchema, load
from api.services import services
from common.connectors import has_access_fields
from common.errors import (
    ConflictError,
    IllegalArgumentError,
    MLValidationError,
    RequestValidationError,
    StatusError,
)
from common.ids import new_id
from common.model_groups import (
    ACCESS_FIELDS_MESSAGE,
    create_group,
    group_view,
    require_free_name,
)
from common.security import model_access
from common.security.access import AccessRequest
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
    svc = services()
    require_free_name(svc.store, name)  # ML Commons checks the name before access fields
    user = current_user()
    access = None
    if guard.model_rules_on(svc, user):
        assert user is not None
        access = model_access.on_register(AccessRequest.of(body), user)
    elif has_access_fields(body):
        raise IllegalArgumentError(ACCESS_FIELDS_MESSAGE)
    group_id = create_group(svc.store, new_id(), name, body.get("description"), access=access)
    return {"model_group_id": group_id, "status": "CREATED"}


@blueprint.get("/<group_id>")
def get(group_id: str) -> dict[str, Any]:
    """Return a model group (without its id, like ML Commons)."""
    svc = services()
    message = f"Failed to find model group with the provided model group id: {group_id}"
    group = svc.store.model_groups.require(group_id, message)
    user = current_user()
    if not model_access.may_access(user, group, guard.model_rules_on(svc, user)):
        raise StatusError(model_access.NO_GROUP_ACCESS, status=403)
    return group_view(svc.store, group, group_id)


@blueprint.put("/<group_id>")
def update(group_id: str) -> dict[str, Any]:
    """Rename or redescribe a model group; ML Commons answers {"status": "Updated"}."""
    body = json_body(required=True, empty_message="Model group request has empty body")
    svc = services()
    user = current_user()
    update_group(
        svc.store,
        group_id,
        load(ModelGroupUpdateSchema, body),
        user=user,
        access_control=guard.model_rules_on(svc, user),
    )
    # Predicts through this process check access against the new group at once, not at
    # the change notification.
    svc.view.drop(f"model_group:{group_id}")
    return dict(GROUP_UPDATED)


@blueprint.route("/_search", methods=["GET", "POST"])
def search() -> dict[str, Any]:
    """Search model groups; under model access control a non-admin sees only what they may
    access, in the hits and in the total."""
    svc = services()
    store = svc.store
    visible = model_access.visible(current_user(), svc.view.cluster().model_access_control)
    pairs = [(gid, group_view(store, group, gid)) for gid, group in store.model_groups.all()]
    return search_response(pairs, INDEX, lambda wire: wire, visible=visible)


@blueprint.delete("/<group_id>")
def delete(group_id: str) -> dict[str, Any]:
    """Delete a model group that holds no model versions."""
    svc = services()
    store = svc.store
    group = store.model_groups.get(group_id)
    user = current_user()
    if group is not None and not model_access.may_access(
        user, group, guard.model_rules_on(svc, user)
    ):
        raise MLValidationError(model_access.NO_GROUP_DELETE)
    if any(m.model_group_id == group_id for _, m in store.models.all()):
        raise ConflictError("Cannot delete the model group when it has associated model versions")
    if group is not None:
        store.group_names.release(group.name)
    return delete_response(INDEX, group_id, found=store.model_groups.delete(group_id))

"""/_plugins/_ml/controllers/{model_id}: a model's per-user rate limiters (create, get,
update, delete), with ML Commons' checks in its order."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from msgspec import structs

from api.routes import guard
from api.routes.body import json_body
from api.routes.search import delete_response
from api.schemas import ControllerSchema, load
from api.services import Services, services
from common import controllers as rules
from common.errors import ConflictError, IllegalStateError, NotFoundError, StatusError
from common.records import Controller, MLModel, MLModelState, to_wire
from common.updates import update_response

blueprint = Blueprint("controllers", __name__, url_prefix="/_plugins/_ml/controllers")


def _require_enabled(svc: Services) -> None:
    if not svc.view.cluster().controller_enabled:
        raise IllegalStateError(rules.DISABLED)  # ML Commons: a 500


def _model(svc: Services, model_id: str, verb: str) -> MLModel:
    model = svc.store.models.get(model_id)
    if model is None:
        raise NotFoundError(f"Failed to find model to {verb} {rules.SUFFIX_NO_MODEL}")
    return model


def _require_access(svc: Services, model_id: str, model: MLModel) -> None:
    message = rules.with_model_id(rules.NO_ACCESS, model_id, model.is_hidden)
    guard.require_model_access(svc, model, message)


def _mark(svc: Services, model_id: str, enabled: bool) -> None:
    """Note on the model whether it has a controller; predicts read only such models' one."""
    try:
        svc.store.models.update(
            model_id, lambda model: structs.replace(model, is_controller_enabled=enabled)
        )
    except NotFoundError:
        return
    svc.view.drop(f"model:{model_id}")


def _forget(svc: Services, model_id: str) -> None:
    # This process must use the change at its next predict, not at the notification.
    svc.view.drop(f"controller:{model_id}")


@blueprint.post("/<model_id>")
def create(model_id: str) -> dict[str, Any]:
    """Store a model's user rate limiters (replacing any); CREATED or UPDATED."""
    svc = services()
    _require_enabled(svc)
    body = json_body(required=True, empty_message="Create model controller request has empty body")
    limits = rules.parse_limits(load(ControllerSchema, body)["user_rate_limiter"])
    model = _model(svc, model_id, "create")
    _require_access(svc, model_id, model)
    if model.model_state == MLModelState.DEPLOYING:
        raise ConflictError(rules.with_model_id(rules.DEPLOYING, model_id, model.is_hidden))
    existed = svc.store.controllers.get(model_id) is not None
    svc.store.controllers.put(model_id, Controller(model_id=model_id, user_rate_limiter=limits))
    _forget(svc, model_id)
    if not existed:
        _mark(svc, model_id, True)
    return {"model_id": model_id, "status": "UPDATED" if existed else "CREATED"}


@blueprint.get("/<model_id>")
def get(model_id: str) -> dict[str, Any]:
    """Return a model's controller."""
    svc = services()
    _require_enabled(svc)
    controller = svc.store.controllers.get(model_id)
    if controller is None:
        raise NotFoundError(rules.MISSING_CONTROLLER)
    model = _model(svc, model_id, "get")
    _require_access(svc, model_id, model)
    return to_wire(controller)


@blueprint.put("/<model_id>")
def update(model_id: str) -> dict[str, Any]:
    """Merge user rate limiters into a model's controller."""
    svc = services()
    _require_enabled(svc)
    body = json_body(required=True, empty_message="Update model controller request has empty body")
    limits = rules.parse_limits(load(ControllerSchema, body)["user_rate_limiter"])
    model = _model(svc, model_id, "create")  # sic: ML Commons' update says "create"
    _require_access(svc, model_id, model)
    if svc.store.controllers.get(model_id) is None:
        if not model.is_controller_enabled:
            message = rules.with_model_id(rules.NOT_CREATED, model_id, model.is_hidden)
            raise ConflictError(message)
        raise NotFoundError(rules.MISSING_CONTROLLER)
    try:
        svc.store.controllers.update(model_id, lambda held: rules.merge(held, limits))
    except NotFoundError:
        raise NotFoundError(rules.MISSING_CONTROLLER) from None
    _forget(svc, model_id)
    return update_response(rules.INDEX, model_id)


@blueprint.delete("/<model_id>")
def delete(model_id: str) -> dict[str, Any]:
    """Delete a model's controller (also when its model is gone)."""
    svc = services()
    _require_enabled(svc)
    model = svc.store.models.get(model_id)
    if model is not None:
        _require_access(svc, model_id, model)
    if not svc.store.controllers.delete(model_id):
        raise StatusError(rules.MISSING_CONTROLLER, status=404)
    _forget(svc, model_id)
    if model is not None:
        _mark(svc, model_id, False)
    return delete_response(rules.INDEX, model_id, found=True)

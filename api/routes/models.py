"""/_plugins/_ml/models: register, get, update, search, delete, deploy, undeploy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, request

from api import jobs
from api.auth import current_user
from api.routes import guard
from api.routes.body import json_body
from api.routes.connectors import require_remote_inference, validate_connector
from api.routes.search import as_is, delete_response, search_response
from api.schemas import DeploySchema, ModelUpdateSchema, RegisterModelSchema, UndeploySchema, load
from api.services import Services, services
from common import connectors as rules
from common.deployment import is_custom_plan_allowed, start_deploy, undeploy
from common.errors import IllegalArgumentError, NodeUnavailableError, StatusError
from common.ids import new_id
from common.messages import RegisterJob
from common.model_groups import ACCESS_FIELDS_MESSAGE, create_group
from common.model_updates import update_model
from common.models import public_view
from common.nodes import alive, require_eligible
from common.records import (
    DeploySetting,
    MLModel,
    MLTaskType,
    Node,
    RateLimiter,
    interface_text,
    now_ms,
    to_wire,
)
from common.security import connector_access, model_access
from common.security.access import AccessRequest
from common.security.user import User
from common.tasks import new_task
from common.updates import update_response

blueprint = Blueprint("models", __name__, url_prefix="/_plugins/_ml/models")
INDEX = ".plugins-ml-model"
MISSING = "Failed to find model"
NO_CUSTOM_PLAN = "Don't allow custom deployment plan"
UPDATE_EMPTY = "Update model request has empty body"


def _check_register_body(body: dict[str, Any]) -> None:
    if body.get("name") is None:
        raise IllegalArgumentError("model name is null")
    function_name = body.get("function_name")
    if function_name is None:
        raise IllegalArgumentError("model format is null")
    if function_name.lower() != "remote":
        raise IllegalArgumentError(
            f"Wrong function name: modelgate serves remote models only, got [{function_name}]"
        )
    if not body.get("connector_id") and body.get("connector") is None:
        raise StatusError(
            "You must provide connector content when creating a remote model without connector id!",
            status=400,
        )


def _register_job(svc: Services, body: dict[str, Any], model_id: str, task_id: str) -> RegisterJob:
    connector = None
    if not body.get("connector_id"):
        inline = body["connector"]
        validate_connector(inline, standalone=False)
        connector = rules.build_document(inline, svc.cipher, now_ms())
    setting = body.get("deploy_setting")
    interface = body.get("interface")
    limiter = body.get("rate_limiter")
    return RegisterJob(
        task_id=task_id,
        model_id=model_id,
        reply_key=svc.listener.inbox,
        request_id=new_id(),
        name=body["name"],
        description=body.get("description"),
        model_group_id=body.get("model_group_id") or None,
        connector_id=body.get("connector_id") or None,
        connector=connector,
        deploy_setting=None if setting is None else DeploySetting(**setting),
        interface=None if interface is None else interface_text(interface),
        is_enabled=body.get("is_enabled"),
        rate_limiter=None if limiter is None else RateLimiter.of(limiter),
        deploy=request.args.get("deploy", "false") == "true",
    )


def _group_for(svc: Services, body: dict[str, Any], user: User) -> str:
    """Resolve the group of a registration under model access control, in the API: a group
    created for it is owned by the caller, whom a worker does not know."""
    given = body.get("model_group_id")
    if given:
        if not guard.may_access_group(svc, given):
            raise IllegalArgumentError(model_access.NO_REGISTER)
        return str(given)
    name = body["name"]
    existing = svc.store.group_names.id_for(name)
    if existing is None:
        access = model_access.on_register(AccessRequest.of(body), user)
        group_id = new_id()
        try:
            return create_group(svc.store, group_id, name, body.get("description"), access=access)
        except IllegalArgumentError:  # registered by someone else meanwhile
            existing = svc.store.group_names.id_for(name)
            if existing is None:
                raise
    if not guard.may_access_group(svc, existing):
        raise IllegalArgumentError(model_access.unavailable_name(name, existing))
    return existing


def _check_connector_use(svc: Services, connector_id: str | None) -> None:
    """Refuse a model on a connector the caller may not use (a missing one fails later)."""
    if not connector_id or not guard.connector_rules_on(svc, current_user()):
        return
    connector = svc.store.connectors.get(connector_id)
    if connector is not None and not guard.may_use_connector(svc, connector):
        raise IllegalArgumentError(connector_access.no_use(connector_id))


@blueprint.post("/_register")
@blueprint.post("/_upload")
def register() -> dict[str, Any]:
    """Validate, record a CREATED task, and hand the registration to a worker."""
    require_remote_inference()
    body = load(RegisterModelSchema, json_body(required=True))
    _check_register_body(body)
    svc = services()
    user = current_user()
    if guard.model_rules_on(svc, user):
        assert user is not None
        body["model_group_id"] = _group_for(svc, body, user)
    elif rules.has_access_fields(body):
        raise IllegalArgumentError(ACCESS_FIELDS_MESSAGE)
    _check_connector_use(svc, body.get("connector_id"))
    model_id, task_id = new_id(), new_id()
    job = _register_job(svc, body, model_id, task_id)  # validates an inline connector first
    cluster = svc.cluster()
    require_eligible(
        svc.nodes(),
        only_ml=cluster.only_run_on_ml_node,
        ttl_s=svc.settings.node_ttl_s,
        message="no eligible node found",
    )
    svc.store.tasks.put(task_id, new_task(MLTaskType.REGISTER_MODEL, is_async=False))
    svc.store.active_tasks.add(task_id)
    jobs.register(svc, job, only_ml=cluster.only_run_on_ml_node)
    return {"task_id": task_id, "status": "CREATED", "model_id": model_id}


@blueprint.get("/<model_id>")
def get(model_id: str) -> dict[str, Any]:
    """Return a model without its id and without any inline credential."""
    message = f"Failed to find model with the provided model id: {model_id}"
    svc = services()
    model = svc.store.models.require(model_id, message)
    guard.require_model_access(svc, model)
    return public_view(model)


@blueprint.put("/<model_id>")
def update(model_id: str) -> dict[str, Any]:
    """Change a model; this process's view sees it at once, other processes within ms."""
    body = load(ModelUpdateSchema, json_body(required=True, empty_message=UPDATE_EMPTY))
    svc = services()
    trusted = svc.cluster().trusted_endpoints
    update_model(
        svc.store, svc.cipher, model_id, body, trusted, permitted=_update_check(svc, model_id, body)
    )
    # The next predict through this process must carry the new record (is_enabled,
    # rate_limiter, serving_generation), not wait for the change notification.
    svc.view.drop(f"model:{model_id}")
    return update_response(INDEX, model_id)


def _update_check(svc: Services, model_id: str, body: dict[str, Any]) -> Callable[[MLModel], None]:
    """The permission checks of a model update, in ML Commons' order: the model's group, a
    new connector, a new group."""

    def permitted(model: MLModel) -> None:
        message = f"{model_access.NO_MODEL_ACCESS}, model ID {model_id}"
        guard.require_model_access(svc, model, message)
        user = current_user()
        connector_id = body.get("connector_id")
        if connector_id and guard.connector_rules_on(svc, user):
            connector = svc.store.connectors.get(connector_id)
            if connector is not None and not guard.may_use_connector(svc, connector):
                raise StatusError(connector_access.no_update(connector_id), status=403)
        group_id = str(body.get("model_group_id") or "")
        moved = group_id != "" and group_id != model.model_group_id
        if moved and guard.model_rules_on(svc, user):
            known = svc.store.model_groups.get(group_id) is not None
            if known and not guard.may_access_group(svc, group_id):
                raise StatusError(model_access.no_relink(group_id), status=403)

    return permitted


@blueprint.route("/_search", methods=["GET", "POST"])
def search() -> dict[str, Any]:
    """Search models with the query DSL (api/routes/search.py); under model access control
    a non-admin sees the models of the groups they may see, in hits and total."""
    svc = services()
    pairs = svc.store.models.viewed(public_view)
    return search_response(pairs, INDEX, as_is, visible=_visible_models(svc))


def _visible_models(svc: Services) -> Callable[[dict[str, Any]], bool] | None:
    """ML Commons searches the visible groups first, then filters models on their ids."""
    user = current_user()
    groups = model_access.visible(user, svc.view.cluster().model_access_control)
    if groups is None:
        return None
    allowed = {gid for gid, doc in svc.store.model_groups.viewed(to_wire) if groups(doc)}
    return lambda doc: doc.get("model_group_id") in allowed


@blueprint.delete("/<model_id>")
def delete(model_id: str) -> dict[str, Any]:
    """Delete a model that is not deployed."""
    svc = services()
    store = svc.store
    model = store.models.require(model_id, MISSING)
    guard.require_model_access(svc, model)
    if model.is_serving:
        raise StatusError(
            "Model cannot be deleted in deploying or deployed state. "
            "Try undeploy model first then delete",
            status=400,
        )
    store.models.delete(model_id)
    store.model_access.forget(model_id)
    store.controllers.delete(model_id)  # ML Commons deletes the model's controller too
    return delete_response(INDEX, model_id, found=True)


@blueprint.post("/<model_id>/_deploy")
@blueprint.post("/<model_id>/_load")
def deploy(model_id: str) -> dict[str, Any]:
    """Start deploying on every live eligible node, or on the `node_ids` of a custom plan.

    Remote models answer COMPLETED at once, as ML Commons does since 2.11: the task record
    tracks each node's outcome.
    """
    require_remote_inference()
    node_ids = _custom_nodes(load(DeploySchema, json_body(required=False)))
    svc = services()
    guard.require_model_access(svc, svc.store.models.require(model_id, MISSING))
    nodes = require_eligible(
        svc.nodes(),
        only_ml=svc.cluster().only_run_on_ml_node,
        ttl_s=svc.settings.node_ttl_s,
        message="no eligible node found",
    )
    if node_ids is not None:
        nodes = _planned_nodes(svc, model_id, nodes, node_ids)
    task_id = start_deploy(svc.store, svc.celery, model_id, nodes, to_all=node_ids is None)
    return {"task_id": task_id, "task_type": "DEPLOY_MODEL", "status": "COMPLETED"}


def _custom_nodes(body: dict[str, Any]) -> list[str] | None:
    """Return the node_ids of a custom plan (None: all nodes); refused unless allowed."""
    node_ids = body.get("node_ids")
    if not node_ids:
        return None
    if not is_custom_plan_allowed(services().store):
        raise IllegalArgumentError(NO_CUSTOM_PLAN)
    return list(node_ids)


def _planned_nodes(
    svc: Services, model_id: str, nodes: list[Node], node_ids: list[str]
) -> list[Node]:
    planned = [node for node in nodes if node.id in node_ids]
    if not planned:
        raise NodeUnavailableError("no eligible node found")
    left_out = sorted(svc.store.deployments.holders(model_id) - set(node_ids))
    if left_out:
        raise IllegalArgumentError(
            f"Model already deployed to these nodes: [{', '.join(left_out)}], but they are not "
            "included in target node ids. Undeploy model from these nodes if new deployment "
            "plan doesn't include them."
        )
    return planned


def _undeploy_all(model_ids: list[str], node_ids: list[str] | None) -> dict[str, Any]:
    svc = services()
    if len(model_ids) > 1 and guard.model_rules_on(svc, current_user()):
        raise IllegalArgumentError("only support undeploy one model")
    for model_id in model_ids:
        model = svc.store.models.require(model_id, MISSING)
        message = f"No permission to undeploy model {model_id}"
        guard.require_model_access(svc, model, message, status=400)
    live = [n.id for n in alive(svc.nodes(), svc.settings.node_ttl_s)]
    result: dict[str, Any] = {}
    for model_id in model_ids:
        stats = undeploy(svc.store, svc.celery, model_id, live, node_ids)
        for node_id, entry in stats.items():
            result.setdefault(node_id, {"stats": {}})["stats"].update(entry["stats"])
    return result


@blueprint.post("/<model_id>/_undeploy")
@blueprint.post("/<model_id>/_unload")
def undeploy_one(model_id: str) -> dict[str, Any]:
    """Undeploy one model (or the body's model_ids, as ML Commons reads it) from its nodes."""
    body = load(UndeploySchema, json_body(required=False))
    model_ids = list(body.get("model_ids") or [model_id])
    return _undeploy_all(model_ids, _custom_nodes(body))


@blueprint.post("/_undeploy")
@blueprint.post("/_unload")
def undeploy_many() -> dict[str, Any]:
    """Undeploy the models named in the body, from every node or from its node_ids."""
    body = load(UndeploySchema, json_body(required=False))
    node_ids = _custom_nodes(body)
    if not body.get("model_ids"):
        raise IllegalArgumentError("Must set specific model ids to undeploy")
    return _undeploy_all(list(body["model_ids"]), node_ids)

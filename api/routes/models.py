"""/_plugins/_ml/models: register, get, update, search, delete, deploy, undeploy."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from api import jobs
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
from common.model_groups import ACCESS_FIELDS_MESSAGE
from common.model_updates import update_model
from common.models import public_view
from common.nodes import alive, require_eligible
from common.records import DeploySetting, MLTaskType, Node, RateLimiter, interface_text, now_ms
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
    if rules.has_access_fields(body):
        raise IllegalArgumentError(ACCESS_FIELDS_MESSAGE)
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


@blueprint.post("/_register")
@blueprint.post("/_upload")
def register() -> dict[str, Any]:
    """Validate, record a CREATED task, and hand the registration to a worker."""
    require_remote_inference()
    body = load(RegisterModelSchema, json_body(required=True))
    _check_register_body(body)
    svc = services()
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
    return public_view(services().store.models.require(model_id, message))


@blueprint.put("/<model_id>")
def update(model_id: str) -> dict[str, Any]:
    """Change a model; this process's view sees it at once, other processes within ms."""
    body = load(ModelUpdateSchema, json_body(required=True, empty_message=UPDATE_EMPTY))
    svc = services()
    trusted = svc.cluster().trusted_endpoints
    update_model(svc.store, svc.cipher, model_id, body, trusted)
    # The next predict through this process must carry the new record (is_enabled,
    # rate_limiter, serving_generation), not wait for the change notification.
    svc.view.drop(f"model:{model_id}")
    return update_response(INDEX, model_id)


@blueprint.route("/_search", methods=["GET", "POST"])
def search() -> dict[str, Any]:
    """Search models with the query DSL (api/routes/search.py)."""
    return search_response(services().store.models.viewed(public_view), INDEX, as_is)


@blueprint.delete("/<model_id>")
def delete(model_id: str) -> dict[str, Any]:
    """Delete a model that is not deployed."""
    store = services().store
    model = store.models.require(model_id, MISSING)
    if model.is_serving:
        raise StatusError(
            "Model cannot be deleted in deploying or deployed state. "
            "Try undeploy model first then delete",
            status=400,
        )
    store.models.delete(model_id)
    store.model_access.forget(model_id)
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
    svc.store.models.require(model_id, MISSING)
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
    for model_id in model_ids:
        svc.store.models.require(model_id, MISSING)
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

"""POST /_plugins/_ml/models/<id>/_predict: gate in the API, run on a worker node."""

from __future__ import annotations

import random
import time
from typing import Any

from flask import Blueprint, Response

from api import jobs
from api.routes.body import json_body
from api.routes.connectors import DISABLED
from api.schemas import PredictSchema, load
from api.services import Services, services
from common.cluster_settings import ClusterSettings
from common.deployment import start_deploy
from common.errors import (
    IllegalArgumentError,
    NodeUnavailableError,
    NotFoundError,
    StatusError,
)
from common.ids import new_id
from common.messages import PredictRequest
from common.nodes import require_eligible
from common.queueing import node_queue, role_queue
from common.records import MLModel, Node

blueprint = Blueprint("predict", __name__)
NODE_HEADER = "X-Modelgate-Node"
AUTO_DEPLOY_GUARD_S = 10  # concurrent first predicts start one deployment, not one each
THROTTLED = "Request is throttled at model level."


def _ensure_serving(
    svc: Services, model_id: str, model: MLModel, nodes: list[Node], cluster: ClusterSettings
) -> None:
    if model.is_serving:
        return
    if not cluster.auto_deploy:
        raise IllegalArgumentError("Model not ready yet. Please deploy the model first.")
    if model.deploy_setting is not None and model.deploy_setting.is_auto_deploy_enabled is False:
        raise IllegalArgumentError(
            "Auto deployment disabled for this model, please deploy model first "
            f"Model ID: {model_id}"
        )
    # The first predict deploys: the deploy jobs and this predict run side by side, and the
    # node that takes the predict loads the model itself, so this request does not wait.
    if svc.store.deployments.claim_auto_deploy(model_id, ttl_s=AUTO_DEPLOY_GUARD_S):
        start_deploy(svc.store, svc.celery, model_id, nodes)


def _queue(model: MLModel, nodes: list[Node], cluster: ClusterSettings) -> str:
    """The shared queue of the eligible role, or, for a model deployed to named nodes only
    (node_ids with allow_custom_deployment_plan), the own list of one of them: a node outside
    the plan must not take the predict and load the model again."""
    planned = model.planning_worker_nodes
    if model.deploy_to_all_nodes or not planned:
        return role_queue(only_ml=cluster.only_run_on_ml_node)
    live = [node.id for node in nodes if node.id in planned]
    if not live:
        raise NodeUnavailableError("no eligible node to run predict request")
    return node_queue(random.choice(live))


def _request(
    svc: Services,
    model_id: str,
    model: MLModel,
    body: dict[str, Any],
    cluster: ClusterSettings,
    queue: str,
) -> PredictRequest:
    return PredictRequest(
        reply_key=svc.listener.inbox,
        request_id=new_id(),
        queue=queue,
        deadline=time.time() + svc.settings.predict_timeout_s,
        model_id=model_id,
        generation=model.serving_generation,
        parameters=body["parameters"],
        action_type=body["action_type"],
        text_docs=body.get("text_docs"),
        trusted=list(cluster.trusted_endpoints),
        private_ip_enabled=cluster.private_ip_enabled,
        max_json_size=cluster.max_json_size,
    )


@blueprint.post("/_plugins/_ml/models/<model_id>/_predict")
@blueprint.post("/_plugins/_ml/_predict/<algorithm>/<model_id>")
def predict(model_id: str, algorithm: str = "remote") -> Response:
    """Run one prediction; the body is exactly ML Commons' inference_results."""
    body = load(PredictSchema, json_body(required=False))
    svc = services()
    model = svc.view.model(model_id)
    if model is None:
        raise NotFoundError("Failed to find model")
    cluster = svc.view.cluster()
    if not cluster.remote_inference_enabled:
        raise StatusError(DISABLED, status=400)
    if model.is_enabled is False:
        raise StatusError("Model is disabled.", status=403)
    nodes = require_eligible(
        svc.view.nodes(),
        only_ml=cluster.only_run_on_ml_node,
        ttl_s=svc.settings.node_ttl_s,
        message="no eligible node to run predict request",
    )
    _ensure_serving(svc, model_id, model, nodes, cluster)
    svc.access.touch(model_id)
    limiter = model.rate_limiter
    if limiter is not None and not svc.store.rate_limits.take(
        model_id, limiter.per_second, limiter.burst
    ):
        svc.store.node_stats.count_throttle(model_id)
        raise StatusError(THROTTLED, status=429)
    queue = _queue(model, nodes, cluster)
    reply = jobs.predict(svc, _request(svc, model_id, model, body, cluster, queue))
    response = Response(reply.body, status=200, mimetype="application/json")
    response.headers[NODE_HEADER] = reply.node
    response.headers[NODE_HEADER + "-Name"] = reply.node_name
    response.headers[NODE_HEADER + "-Role"] = reply.role
    return response

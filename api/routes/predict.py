"""POST /_plugins/_ml/models/<id>/_predict: gate in the API, run on a worker node."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response

from api import jobs
from api.auth import current_user
from api.routes import guard
from api.routes.body import json_body
from api.routes.connectors import DISABLED
from api.schemas import PredictSchema, load
from api.services import Services, services
from api.serving import ensure_serving
from common.cluster_settings import ClusterSettings
from common.controllers import user_bucket
from common.dispatch import Rotation, predict_queue
from common.errors import (
    NotFoundError,
    StatusError,
)
from common.ids import new_id
from common.messages import PredictReply, PredictRequest
from common.nodes import require_eligible
from common.records import MLModel, Node
from common.security.user import User

blueprint = Blueprint("predict", __name__)
# round_robin's turn counter: one per API process, shared by its request threads.
_ROTATION = Rotation()
NODE_HEADER = "X-Modelgate-Node"
THROTTLED = "Request is throttled at model level."
USER_THROTTLED = (
    "Request is throttled at user level. If you think there's an issue, please contact your "
    "cluster admin."
)


def _user_throttled(svc: Services, model_id: str, model: MLModel, user: User) -> bool:
    """Take a token from the caller's own bucket when the model's controller limits them.

    The controller is read from the view, and only for models that have one, so a predict
    without a user limit costs no Redis call for it.
    """
    if not model.is_controller_enabled:
        return False
    controller = svc.view.controller(model_id)
    entry = None if controller is None else controller.user_rate_limiter.get(user.name)
    limiter = None if entry is None else entry.limiter
    if limiter is None:
        return False
    return not svc.store.rate_limits.take(
        user_bucket(model_id, user.name), limiter.per_second, limiter.burst
    )


def _queue(model: MLModel, nodes: list[Node], cluster: ClusterSettings) -> str:
    """The predict list under plugins.ml_commons.task_dispatch_policy (common/dispatch.py):
    the shared list of the eligible role, or one holder's own list, in turn."""
    return predict_queue(
        model,
        nodes,
        only_ml=cluster.only_run_on_ml_node,
        policy=cluster.task_dispatch_policy,
        rotation=_ROTATION,
    )


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
        query_text=body.get("query_text"),
        trusted=list(cluster.trusted_endpoints),
        private_ip_enabled=cluster.private_ip_enabled,
        max_json_size=cluster.max_json_size,
    )


@dataclass(frozen=True, slots=True)
class Served:
    """A predict's answer and the host of the node that gave it."""

    reply: PredictReply
    host: str

    def headers(self) -> list[tuple[str, str]]:
        """The serving node's headers (X-Modelgate-Node, -Name, -Role, -Host)."""
        reply = self.reply
        return [
            (NODE_HEADER, reply.node),
            (NODE_HEADER + "-Name", reply.node_name),
            (NODE_HEADER + "-Role", reply.role),
            (NODE_HEADER + "-Host", self.host),
        ]


@blueprint.post("/_plugins/_ml/models/<model_id>/_predict")
@blueprint.post("/_plugins/_ml/_predict/<algorithm>/<model_id>")
def predict(model_id: str, algorithm: str = "remote") -> Response:
    """Run one prediction; the body is exactly ML Commons' inference_results.

    api/fast_predict.py serves the first route without this view for plain requests, with
    the same steps (serve_predict).
    """
    body = load(PredictSchema, json_body(required=False))
    served = serve_predict(services(), model_id, body)
    response = Response(served.reply.body, status=200, mimetype="application/json")
    response.headers.extend(served.headers())
    return response


def serve_predict(svc: Services, model_id: str, body: dict[str, Any]) -> Served:
    """Check the model, the caller and the limits; run the predict on a node; its answer.

    body is the request, validated by PredictSchema. Runs in an app context (the caller is
    current_user()).
    """
    model = svc.view.model(model_id)
    if model is None:
        raise NotFoundError("Failed to find model")
    cluster = svc.view.cluster()
    if not cluster.remote_inference_enabled:
        raise StatusError(DISABLED, status=400)
    user = current_user()
    if user is not None:  # security on: the group's rules, from the view (no Redis call)
        guard.require_model_access(svc, model, cached=True)
    if model.is_enabled is False:
        raise StatusError("Model is disabled.", status=403)
    nodes = require_eligible(
        svc.view.nodes(),
        only_ml=cluster.only_run_on_ml_node,
        ttl_s=svc.settings.node_ttl_s,
        message="no eligible node to run predict request",
    )
    ensure_serving(svc, model_id, model, nodes, cluster)
    svc.access.touch(model_id)
    limiter = model.rate_limiter
    if limiter is not None and not svc.store.rate_limits.take(
        model_id, limiter.per_second, limiter.burst
    ):
        svc.store.node_stats.count_throttle(model_id)
        raise StatusError(THROTTLED, status=429)
    if user is not None and _user_throttled(svc, model_id, model, user):
        svc.store.node_stats.count_throttle(model_id)
        raise StatusError(USER_THROTTLED, status=429)
    queue = _queue(model, nodes, cluster)
    reply = jobs.predict(svc, _request(svc, model_id, model, body, cluster, queue))
    host = next((node.host for node in nodes if node.id == reply.node), "")
    return Served(reply, host)

"""Batch predict: start a provider's batch job as a BATCH_PREDICTION task, read it, cancel it.

As in ML Commons, `_batch_predict` answers once the provider has accepted the job (its
description is the task's remote_job), reading a batch task asks the provider for the job's
status first, and `_cancel` asks the provider to stop it. Each provider call runs on an
eligible worker node (common/batch.py names the jobs); the API waits for its answer.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint

from api.routes import guard
from api.routes.body import json_body
from api.routes.connectors import DISABLED
from api.schemas import PredictSchema, load
from api.services import Services, services
from api.serving import ensure_serving
from common.batch import NO_BATCH_JOB, TASK_BATCH_CANCEL, TASK_BATCH_PREDICT, TASK_BATCH_STATUS
from common.cluster_settings import ClusterSettings
from common.errors import (
    GatewayTimeoutError,
    IllegalArgumentError,
    IllegalStateError,
    NotFoundError,
    QueueUnavailableError,
    StatusError,
)
from common.ids import new_id
from common.messages import BatchJob, JobReply
from common.nodes import alive, eligible, require_eligible
from common.queueing import role_queue
from common.records import ActionType, Connector, MLModel, MLTask, MLTaskState, MLTaskType
from common.tasks import new_task

blueprint = Blueprint("batch", __name__)
NO_NODE = "no eligible node to run predict request"
BATCH_DISABLED = (
    "Offline Batch Inference is currently disabled. To enable it, update the setting "
    '"plugins.ml_commons.offline_batch_inference_enabled" to true.'
)
TOO_MANY = (
    "Exceeded maximum limit for BATCH_PREDICTION tasks. To increase the limit, update the "
    "plugins.ml_commons.max_batch_inference_tasks setting."
)
MISSING_TASK = "Fail to find task"  # sic: ML Commons' cancel says "Fail", get says "Failed"


@blueprint.post("/_plugins/_ml/models/<model_id>/_batch_predict")
def batch_predict(model_id: str) -> dict[str, Any]:
    """Start a batch job with the model's batch_predict action; answer its task id."""
    body = load(PredictSchema, json_body(required=False))
    svc = services()
    cluster = _batch_cluster(svc)
    model = svc.view.model(model_id)
    if model is None:
        raise NotFoundError("Failed to find model")
    guard.require_model_access(svc, model, cached=True)
    if not cluster.remote_inference_enabled:
        raise StatusError(DISABLED, status=400)
    if model.is_enabled is False:
        raise StatusError("Model is disabled.", status=403)
    if _connector(svc, model).action(ActionType.BATCH_PREDICT) is None:
        raise IllegalArgumentError(f"no {ActionType.BATCH_PREDICT} action found")
    nodes = require_eligible(
        svc.view.nodes(),
        only_ml=cluster.only_run_on_ml_node,
        ttl_s=svc.settings.node_ttl_s,
        message=NO_NODE,
    )
    ensure_serving(svc, model_id, model, nodes, cluster)
    _require_room(svc, cluster)
    task_id = new_id()
    task = new_task(
        MLTaskType.BATCH_PREDICTION, is_async=False, model_id=model_id, input_type="REMOTE"
    )
    svc.store.tasks.put(task_id, task)
    job = _job(svc, cluster, task_id, body["parameters"])
    # Past the wait the job still runs on its node, and the task record tells how it went.
    _run(svc, TASK_BATCH_PREDICT, job, cluster)
    return {"task_id": task_id, "status": "CREATED"}


@blueprint.post("/_plugins/_ml/tasks/<task_id>/_cancel")
def cancel(task_id: str) -> dict[str, Any]:
    """Cancel a batch task's remote job; its state follows on the next read of the task."""
    svc = services()
    cluster = _batch_cluster(svc)
    task = svc.store.tasks.get(task_id)
    if task is None:
        raise NotFoundError(MISSING_TASK)
    if task.task_type != MLTaskType.BATCH_PREDICTION:
        raise IllegalArgumentError(NO_BATCH_JOB)
    if _run(svc, TASK_BATCH_CANCEL, _job(svc, cluster, task_id), cluster) is None:
        raise GatewayTimeoutError("No worker node answered the cancel request in time")
    return {"status": "OK"}


def refreshed(svc: Services, task_id: str, task: MLTask) -> MLTask:
    """Return a batch task after asking its provider how the job goes (ML Commons' GET task).

    A task whose job never started has nothing to ask about. With no live node to ask, or
    none answering in time, the task is shown as last recorded.
    """
    if task.task_type != MLTaskType.BATCH_PREDICTION or task.remote_job is None:
        return task
    cluster = _batch_cluster(svc)
    live = alive(svc.view.nodes(), svc.settings.node_ttl_s)
    if not eligible(live, only_ml=cluster.only_run_on_ml_node):
        return task
    _run(svc, TASK_BATCH_STATUS, _job(svc, cluster, task_id), cluster)
    return svc.store.tasks.require(task_id, "Failed to find task")


def _batch_cluster(svc: Services) -> ClusterSettings:
    """The cluster settings, or ML Commons' refusal when batch inference is switched off."""
    cluster = svc.view.cluster()
    if not cluster.batch_inference_enabled:
        raise IllegalStateError(BATCH_DISABLED)
    return cluster


def _require_room(svc: Services, cluster: ClusterSettings) -> None:
    """429 once max_batch_inference_tasks batch jobs are running, as ML Commons counts them."""
    running = sum(
        1
        for _, task in svc.store.tasks.all()
        if task.task_type == MLTaskType.BATCH_PREDICTION and task.state == MLTaskState.RUNNING
    )
    if running >= cluster.max_batch_tasks:
        raise StatusError(TOO_MANY, status=429)


def _connector(svc: Services, model: MLModel) -> Connector:
    if model.connector is not None:
        return model.connector
    connector_id = model.connector_id or ""
    return svc.store.connectors.require(connector_id, f"Failed to find connector:{connector_id}")


def _job(
    svc: Services, cluster: ClusterSettings, task_id: str, parameters: dict[str, Any] | None = None
) -> BatchJob:
    return BatchJob(
        task_id=task_id,
        reply_key=svc.listener.inbox,
        request_id=new_id(),
        deadline=time.time() + svc.settings.predict_timeout_s,
        parameters=parameters or {},
        trusted=list(cluster.trusted_endpoints),
        private_ip_enabled=cluster.private_ip_enabled,
        max_json_size=cluster.max_json_size,
    )


def _run(svc: Services, name: str, job: BatchJob, cluster: ClusterSettings) -> JobReply | None:
    """Send a batch job to an eligible node and wait for its reply; None past the deadline.

    Raises the node's error when the provider call failed.
    """
    waiter = svc.listener.expect(job.request_id)
    try:
        queue = role_queue(only_ml=cluster.only_run_on_ml_node)
        try:
            svc.celery.send_task(name, args=[job.text()], queue=queue)
        except Exception:  # any broker or connection failure: Celery has no common base for them
            raise QueueUnavailableError("Could not queue the batch job") from None
        reply = waiter.wait(JobReply, job.deadline - time.time())
    finally:
        svc.listener.forget(waiter)
    if reply is not None and reply.error is not None:
        raise reply.error.to_error()
    return reply

"""Deploy on this node: load connector and credentials into memory; last node settles the task."""

from __future__ import annotations

import json
import logging

from msgspec import structs

from common.errors import MLCommonsError, NotFoundError
from common.messages import DeployJob
from common.records import MLModel, MLModelState, MLTaskState, now_ms
from common.store import Store
from common.tasks import set_state
from workers.model_cache import PreparedModel
from workers.runtime import Runtime

log = logging.getLogger(__name__)


def prepare_model(rt: Runtime, model_id: str) -> PreparedModel:
    """Load a model's connector and decrypt its credentials; note that this node holds it."""
    model = rt.store.models.require(model_id, "Failed to find model")
    connector = model.connector
    if connector is None:
        connector_id = model.connector_id or ""
        connector = rt.store.connectors.require(
            connector_id, f"Failed to find connector:{connector_id}"
        )
    prepared = rt.cache.prepare(model.serving_generation, connector, rt.cipher.decrypt)
    rt.store.deployments.add_holder(model_id, rt.node.id)
    return prepared


def run(rt: Runtime, job: DeployJob) -> None:
    """Deploy a model on this node and report; a finished task is left alone (redelivery)."""
    task = rt.store.tasks.get(job.task_id)
    if task is None or task.is_final:
        return
    if task.state == MLTaskState.CREATED:
        set_state(rt.store, job.task_id, MLTaskState.RUNNING)
    error: str | None = None
    try:
        rt.cache.put(job.model_id, prepare_model(rt, job.model_id))
    except MLCommonsError as failure:
        error = failure.reason
    report(rt.store, job.task_id, rt.node.id, error)


def report(store: Store, task_id: str, node_id: str, error: str | None) -> None:
    """Record one node's outcome; the node whose report is the last one settles the task."""
    task = store.tasks.require(task_id, "Failed to find task")
    count = store.deployments.record_result(task_id, node_id, error)
    if count == len(task.worker_node):
        settle(store, task_id, task.model_id or "")


def _outcome(served: int, failed: int) -> tuple[MLTaskState, MLModelState]:
    if not failed:
        return MLTaskState.COMPLETED, MLModelState.DEPLOYED
    if served:
        return MLTaskState.COMPLETED_WITH_ERROR, MLModelState.PARTIALLY_DEPLOYED
    return MLTaskState.FAILED, MLModelState.DEPLOY_FAILED


def settle(store: Store, task_id: str, model_id: str) -> None:
    """Set the deploy task and model states from every node's outcome."""
    results = store.deployments.results(task_id)
    failed = {node: err for node, err in results.items() if err is not None}
    served = len(results) - len(failed)
    task_state, model_state = _outcome(served, len(failed))
    set_state(store, task_id, task_state, error=json.dumps(failed) if failed else None)

    def mark(model: MLModel) -> MLModel | None:
        if model.model_state != MLModelState.DEPLOYING:
            return None  # undeployed (or redeployed) meanwhile: that newer decision stands
        stamp = now_ms()
        return structs.replace(
            model,
            model_state=model_state,
            current_worker_node_count=served,
            last_deployed_time=stamp,
            last_updated_time=stamp,
        )

    try:
        store.models.update(model_id, mark)
    except NotFoundError:
        log.warning("model %s vanished during deploy task %s", model_id, task_id)

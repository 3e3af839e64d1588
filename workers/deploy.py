"""Deploy on this node: load connector and credentials into memory; last node settles the task."""

from __future__ import annotations

import json
import logging

from msgspec import structs

from common.deployment import NOT_READY
from common.errors import IllegalArgumentError, MLCommonsError, NotFoundError
from common.messages import DeployJob
from common.records import MLModel, MLModelState, MLTaskState, MLTaskType, now_ms
from common.store import Store
from common.tasks import set_state
from workers.model_cache import PreparedModel
from workers.runtime import Runtime

log = logging.getLogger(__name__)


def load_model(rt: Runtime, model: MLModel) -> PreparedModel:
    """Read a model's connector and decrypt its credentials (no lock: may be slow)."""
    connector = model.connector
    if connector is None:
        connector_id = model.connector_id or ""
        connector = rt.store.connectors.require(
            connector_id, f"Failed to find connector:{connector_id}"
        )
    return rt.cache.prepare(model.serving_generation, connector, rt.cipher.decrypt)


def hold_model(
    rt: Runtime, model_id: str, *, epoch: int | None = None, refusal: str = NOT_READY
) -> PreparedModel:
    """Load a model and hold it on this node, only while it is meant to be served.

    The commit runs under the model's lifecycle lock (common/deployment.py): an undeploy either
    happened before, and this node does not hold the model, or after, and it sees this node as
    a holder. With `epoch`, a deploy planned before the latest undeploy is refused too.
    """
    store = rt.store
    prepared = load_model(rt, store.models.require(model_id, "Failed to find model"))
    with store.deployments.lifecycle_lock(model_id):
        model = store.models.require(model_id, "Failed to find model")
        overtaken = epoch is not None and store.deployments.epoch(model_id) != epoch
        if overtaken or not model.is_serving:
            raise IllegalArgumentError(refusal)
        if model.serving_generation != prepared.generation:
            prepared = load_model(rt, model)  # changed since the first read
        store.deployments.add_holder(model_id, rt.node.id)
        rt.cache.put(model_id, prepared)
    return prepared


def drop_model(rt: Runtime, model_id: str) -> None:
    """Forget a model on undeploy, unless a deploy committed since made this node hold it."""
    with rt.store.deployments.lifecycle_lock(model_id):
        if not rt.store.deployments.holds(model_id, rt.node.id):
            rt.cache.drop(model_id)


def run(rt: Runtime, job: DeployJob) -> None:
    """Deploy a model on this node and report; a finished task is left alone (redelivery)."""
    task = rt.store.tasks.get(job.task_id)
    if task is None or task.is_final:
        return
    if task.state == MLTaskState.CREATED:
        set_state(rt.store, job.task_id, MLTaskState.RUNNING)
    error: str | None = None
    try:
        refusal = f"Model {job.model_id} was undeployed before this node finished deploying it"
        hold_model(rt, job.model_id, epoch=job.epoch, refusal=refusal)
    except MLCommonsError as failure:
        error = failure.reason
    report(rt.store, job.task_id, rt.node.id, error)


def resume_unfinished(rt: Runtime) -> int:
    """Run again the deploys this node was given and had not reported (it crashed mid-way).

    A restarted node keeps its id (it is derived from its name), so the sweeper sees it alive
    and leaves its deploy tasks alone, while Celery redelivers the lost job only after the
    visibility timeout (minutes): the model would stay DEPLOYING that long. A job delivered
    again later finds its task settled, or this node's outcome recorded, and changes nothing.
    """
    resumed = 0
    for task_id in rt.store.active_tasks.older_than(0):
        task = rt.store.tasks.get(task_id)
        mine = task is not None and rt.node.id in task.worker_node
        if not mine or task is None or task.task_type != MLTaskType.DEPLOY_MODEL:
            continue
        if rt.node.id in rt.store.deployments.results(task_id):
            continue
        epoch = rt.store.deployments.task_epoch(task_id) or 0
        run(rt, DeployJob(task_id=task_id, model_id=task.model_id or "", epoch=epoch))
        resumed += 1
    return resumed


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
    with store.deployments.lifecycle_lock(model_id):
        _settle(store, task_id, model_id)


def _settle(store: Store, task_id: str, model_id: str) -> None:
    results = store.deployments.results(task_id)
    failed = {node: err for node, err in results.items() if err is not None}
    served = len(results) - len(failed)
    task_state, model_state = _outcome(served, len(failed))
    set_state(store, task_id, task_state, error=json.dumps(failed) if failed else None)

    epoch = store.deployments.task_epoch(task_id)
    overtaken = epoch is not None and store.deployments.epoch(model_id) != epoch

    def mark(model: MLModel) -> MLModel | None:
        if overtaken or model.model_state != MLModelState.DEPLOYING:
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

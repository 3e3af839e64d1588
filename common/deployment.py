"""Start deployments and undeployments: shared by the API (_deploy, auto-deploy) and workers.

Deploys, undeploys, node commits and settles of one model all run under the model's lifecycle
lock, and each undeploy starts a new epoch: a deploy planned before an undeploy can no longer
make a node hold the model, so the model's state, its holders and what nodes serve agree once
the calls return (tests/integration/test_deploy_races.py).
"""

from __future__ import annotations

from celery import Celery
from msgspec import structs

from common.ids import new_id
from common.messages import DeployJob, UndeployJob
from common.queueing import TASK_DEPLOY, TASK_UNDEPLOY, node_queue
from common.records import MLModel, MLModelState, MLTaskType, Node, now_ms
from common.store import Store
from common.tasks import new_task

NodeStats = dict[str, dict[str, dict[str, str]]]


def start_deploy(store: Store, celery: Celery, model_id: str, nodes: list[Node]) -> str:
    """Create a DEPLOY_MODEL task and send one deploy job to each eligible node's own queue."""
    task_id = new_id()
    node_ids = [node.id for node in nodes]
    task = new_task(MLTaskType.DEPLOY_MODEL, is_async=True, model_id=model_id, worker_node=node_ids)
    store.tasks.put(task_id, task)
    store.active_tasks.add(task_id)
    with store.deployments.lifecycle_lock(model_id):
        _plan(store, celery, model_id, task_id, node_ids)
    return task_id


def _plan(store: Store, celery: Celery, model_id: str, task_id: str, node_ids: list[str]) -> None:
    def plan(model: MLModel) -> MLModel:
        return structs.replace(
            model,
            model_state=MLModelState.DEPLOYING,
            planning_worker_nodes=node_ids,
            planning_worker_node_count=len(node_ids),
            deploy_to_all_nodes=True,
            last_updated_time=now_ms(),
        )

    store.models.update(model_id, plan)
    epoch = store.deployments.epoch(model_id)
    store.deployments.remember_epoch(task_id, epoch)
    job = DeployJob(task_id=task_id, model_id=model_id, epoch=epoch).text()
    for node_id in node_ids:
        celery.send_task(TASK_DEPLOY, args=[job], queue=node_queue(node_id))


def undeploy(store: Store, celery: Celery, model_id: str, live_node_ids: list[str]) -> NodeStats:
    """Mark a model UNDEPLOYED, tell each holding node to drop it; return per-node stats."""
    with store.deployments.lifecycle_lock(model_id):
        holders = _undeploy(store, celery, model_id)
    stats: NodeStats = {n: {"stats": {model_id: "undeployed"}} for n in sorted(holders)}
    for node_id in live_node_ids:
        stats.setdefault(node_id, {"stats": {model_id: "not_found"}})
    return stats


def _undeploy(store: Store, celery: Celery, model_id: str) -> set[str]:
    store.deployments.next_epoch(model_id)
    holders = store.deployments.holders(model_id)
    job = UndeployJob(model_id=model_id).text()
    for node_id in sorted(holders):
        celery.send_task(TASK_UNDEPLOY, args=[job], queue=node_queue(node_id))
    store.deployments.remove_holders(model_id, holders)

    def mark(model: MLModel) -> MLModel:
        stamp = now_ms()
        return structs.replace(
            model,
            model_state=MLModelState.UNDEPLOYED,
            planning_worker_nodes=[],
            planning_worker_node_count=0,
            current_worker_node_count=0,
            last_undeployed_time=stamp,
            last_updated_time=stamp,
        )

    store.models.update(model_id, mark)
    return holders

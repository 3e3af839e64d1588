"""Start deployments and undeployments: shared by the API (_deploy, auto-deploy) and workers.

Deploys, undeploys, node commits and settles of one model all run under the model's lifecycle
lock, and each undeploy starts a new epoch: a deploy planned before an undeploy can no longer
make a node hold the model, so the model's state, its holders and what nodes serve agree once
the calls return (tests/integration/test_deploy_races.py).

An undeploy from some nodes only (`node_ids`, with allow_custom_deployment_plan) does not start
a new epoch: a new epoch would make every deploy in flight fail, on the nodes kept too. It
needs none when no deploy is in flight, which is the only time it runs: while the model is
DEPLOYING, an undeploy that would keep any node is refused (409, the message ML Commons gives
for updating a deploying model), and one that names every node holding or planned to hold the
model is a whole undeploy, epoch included. Without a deploy in flight no deploy job can still
commit a named node, so removing those holders under the lock is final. (A predict a named
node takes from the shared queue still loads the model there again: workers/deploy.py
hold_model does not consult the plan.)
"""

from __future__ import annotations

from celery import Celery
from msgspec import structs

from common.errors import ConflictError
from common.ids import new_id
from common.messages import DeployJob, UndeployJob
from common.queueing import TASK_DEPLOY, TASK_UNDEPLOY, node_queue
from common.records import MLModel, MLModelState, MLTaskType, Node, now_ms
from common.store import Store
from common.tasks import new_task

NodeStats = dict[str, dict[str, dict[str, str]]]
# ML Commons' refusal of a predict on a model that is not deployed (and may not auto-deploy).
NOT_READY = "Model not ready yet. Please deploy the model first."
CUSTOM_PLAN_SETTING = "plugins.ml_commons.allow_custom_deployment_plan"


def is_custom_plan_allowed(store: Store) -> bool:
    """True when plugins.ml_commons.allow_custom_deployment_plan is on (default off)."""
    persistent, transient = store.cluster_settings.read()
    raw = transient.get(CUSTOM_PLAN_SETTING, persistent.get(CUSTOM_PLAN_SETTING))
    return raw is True or raw == "true"


def start_deploy(
    store: Store, celery: Celery, model_id: str, nodes: list[Node], *, to_all: bool = True
) -> str:
    """Create a DEPLOY_MODEL task and send one deploy job to each eligible node's own queue.

    `to_all` is False for a custom deployment plan (node_ids in the _deploy body).
    """
    task_id = new_id()
    node_ids = [node.id for node in nodes]
    task = new_task(MLTaskType.DEPLOY_MODEL, is_async=True, model_id=model_id, worker_node=node_ids)
    store.tasks.put(task_id, task)
    store.active_tasks.add(task_id)
    with store.deployments.lifecycle_lock(model_id):
        _plan(store, celery, model_id, task_id, node_ids, to_all=to_all)
    return task_id


def _plan(
    store: Store, celery: Celery, model_id: str, task_id: str, node_ids: list[str], *, to_all: bool
) -> None:
    def plan(model: MLModel) -> MLModel:
        return structs.replace(
            model,
            model_state=MLModelState.DEPLOYING,
            planning_worker_nodes=node_ids,
            planning_worker_node_count=len(node_ids),
            deploy_to_all_nodes=True if to_all else None,  # shown only when true
            last_updated_time=now_ms(),
        )

    store.models.update(model_id, plan)
    epoch = store.deployments.epoch(model_id)
    store.deployments.remember_epoch(task_id, epoch)
    job = DeployJob(task_id=task_id, model_id=model_id, epoch=epoch).text()
    for node_id in node_ids:
        celery.send_task(TASK_DEPLOY, args=[job], queue=node_queue(node_id))


def undeploy(
    store: Store,
    celery: Celery,
    model_id: str,
    live_node_ids: list[str],
    node_ids: list[str] | None = None,
) -> NodeStats:
    """Undeploy a model from every node, or only from `node_ids`; return per-node stats.

    Every named live node (every live node without `node_ids`) gets an entry: "undeployed"
    where it held the model, "not_found" where it did not.
    """
    with store.deployments.lifecycle_lock(model_id):
        if node_ids is None:
            removed = _undeploy(store, celery, model_id)
        else:
            removed = _undeploy_from(store, celery, model_id, set(node_ids))
    stats: NodeStats = {n: {"stats": {model_id: "undeployed"}} for n in sorted(removed)}
    for node_id in live_node_ids:
        if node_ids is None or node_id in node_ids:
            stats.setdefault(node_id, {"stats": {model_id: "not_found"}})
    return stats


def _undeploy_from(store: Store, celery: Celery, model_id: str, named: set[str]) -> set[str]:
    """Undeploy from the named nodes only (the module docstring says why no epoch starts)."""
    model = store.models.require(model_id, "Failed to find model")
    holders = store.deployments.holders(model_id)
    planned = set(model.planning_worker_nodes or ())
    kept = holders - named
    if model.model_state == MLModelState.DEPLOYING and (kept or planned - named):
        raise ConflictError(
            "Model is deploying. Please wait for the model to complete deployment. "
            f"model ID {model_id}"
        )
    if not kept:
        return _undeploy(store, celery, model_id)
    removed = holders & named
    _drop_from(store, celery, model_id, removed)
    store.models.update(model_id, lambda m: _narrowed(m, sorted(kept)))
    return removed


def _narrowed(model: MLModel, kept: list[str]) -> MLModel:
    # ML Commons' partial undeploy: the nodes kept are the new plan, and all of them serve it.
    serving = {MLModelState.DEPLOYED, MLModelState.PARTIALLY_DEPLOYED}
    stamp = now_ms()
    return structs.replace(
        model,
        model_state=MLModelState.DEPLOYED if model.model_state in serving else model.model_state,
        planning_worker_nodes=kept,
        planning_worker_node_count=len(kept),
        current_worker_node_count=len(kept),
        deploy_to_all_nodes=None,
        last_undeployed_time=stamp,
        last_updated_time=stamp,
    )


def _drop_from(store: Store, celery: Celery, model_id: str, node_ids: set[str]) -> None:
    job = UndeployJob(model_id=model_id).text()
    for node_id in sorted(node_ids):
        celery.send_task(TASK_UNDEPLOY, args=[job], queue=node_queue(node_id))
    store.deployments.remove_holders(model_id, node_ids)


def _undeploy(store: Store, celery: Celery, model_id: str) -> set[str]:
    store.deployments.next_epoch(model_id)
    holders = store.deployments.holders(model_id)
    _drop_from(store, celery, model_id, holders)

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

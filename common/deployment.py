"""Start deployments and undeployments: shared by the API (_deploy, auto-deploy) and workers."""

from __future__ import annotations

from typing import Any

from celery import Celery

from common.ids import new_id
from common.queueing import TASK_DEPLOY, TASK_UNDEPLOY, node_queue
from common.store import MODEL, TASK, Doc, Store, now_ms

SERVING_STATES = frozenset({"DEPLOYED", "PARTIALLY_DEPLOYED", "DEPLOYING"})


def new_task(task_type: str, *, is_async: bool, model_id: str | None = None) -> Doc:
    """Return a fresh CREATED task record in ML Commons' shape."""
    stamp = now_ms()
    task: Doc = {
        "task_type": task_type,
        "function_name": "REMOTE",
        "state": "CREATED",
        "worker_node": [],
        "create_time": stamp,
        "last_update_time": stamp,
        "is_async": is_async,
    }
    if model_id is not None:
        task = {"model_id": model_id, **task}
    return task


def start_deploy(store: Store, celery: Celery, model_id: str, nodes: list[dict[str, Any]]) -> str:
    """Create a DEPLOY_MODEL task and send one deploy job to each eligible node's own queue."""
    task_id = new_id()
    node_ids = [str(node["id"]) for node in nodes]
    task = new_task("DEPLOY_MODEL", is_async=True, model_id=model_id)
    task["worker_node"] = node_ids
    store.put(TASK, task_id, task)
    store.mark_active(task_id)

    def plan(model: Doc) -> Doc:
        model.update(
            model_state="DEPLOYING",
            planning_worker_nodes=node_ids,
            planning_worker_node_count=len(node_ids),
            deploy_to_all_nodes=True,
            last_updated_time=now_ms(),
        )
        return model

    store.update(MODEL, model_id, plan)
    for node_id in node_ids:
        celery.send_task(TASK_DEPLOY, args=[task_id, model_id], queue=node_queue(node_id))
    return task_id


def undeploy(store: Store, celery: Celery, model_id: str, live_node_ids: list[str]) -> Doc:
    """Mark a model UNDEPLOYED, tell each holding node to drop it; return per-node stats."""
    holders = store.model_nodes(model_id)
    for node_id in sorted(holders):
        celery.send_task(TASK_UNDEPLOY, args=[model_id], queue=node_queue(node_id))
    store.remove_model_nodes(model_id, holders)

    def mark(model: Doc) -> Doc:
        stamp = now_ms()
        model.update(
            model_state="UNDEPLOYED",
            planning_worker_nodes=[],
            planning_worker_node_count=0,
            current_worker_node_count=0,
            last_undeployed_time=stamp,
            last_updated_time=stamp,
        )
        return model

    store.update(MODEL, model_id, mark)
    stats: Doc = {n: {"stats": {model_id: "undeployed"}} for n in sorted(holders)}
    for node_id in live_node_ids:
        stats.setdefault(node_id, {"stats": {model_id: "not_found"}})
    return stats

"""Settle tasks whose worker node died: never leave a task RUNNING forever."""

from __future__ import annotations

from common.nodes import alive
from common.store import TASK, Doc, Store
from common.tasks import is_final, set_state
from workers.deploy import report


def sweep(store: Store, ttl_s: float) -> int:
    """Requeue dead nodes' predicts and settle their tasks; return how much was touched."""
    live = {str(n["id"]) for n in alive(store.nodes(), ttl_s)}
    touched = 0
    for node_id in store.known_node_ids():
        if node_id not in live:
            touched += store.requeue_inflight(node_id)
    for task_id in store.active_tasks(older_than_s=ttl_s):
        task = store.get(TASK, task_id)
        if task is None or is_final(task):
            store.mark_done(task_id)
            continue
        touched += _settle_dead(store, task_id, task, live)
    return touched


def _settle_dead(store: Store, task_id: str, task: Doc, live: set[str]) -> int:
    nodes = [str(n) for n in task.get("worker_node") or []]
    dead = [n for n in nodes if n not in live]
    if not dead:
        return 0
    if task["task_type"] == "DEPLOY_MODEL":
        reported = store.node_results(task_id)
        for node in dead:
            if node not in reported:
                report(
                    store, task_id, node, f"Worker node {node} left the cluster before finishing"
                )
        return 1
    if task["state"] == "RUNNING":
        reason = f"Worker node {dead[0]} left the cluster before finishing the task"
        set_state(store, task_id, "FAILED", error=reason)
        return 1
    return 0

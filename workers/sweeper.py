"""Settle tasks whose worker node died: never leave a task RUNNING forever."""

from __future__ import annotations

import socket

import psutil

from common.nodes import alive
from common.records import MLTask, MLTaskState, MLTaskType, Node
from common.store import Store
from common.tasks import set_state
from workers.deploy import report


def sweep(store: Store, ttl_s: float) -> int:
    """Requeue dead nodes' predicts and settle their tasks; return how much was touched."""
    nodes = store.nodes.all()
    live = {n.id for n in alive(nodes, ttl_s)}
    # A silent node whose process still runs on this host is stalled, not dead: its requests
    # may already be upstream, and requeueing them would send them twice.
    stalled = {n.id for n in nodes if n.id not in live and _still_running(n)}
    touched = 0
    for node_id in store.nodes.known_ids():
        if node_id not in live and node_id not in stalled:
            touched += store.predicts.requeue_inflight(node_id)
    for task_id in store.active_tasks.older_than(ttl_s):
        task = store.tasks.get(task_id)
        if task is None or task.is_final:
            store.active_tasks.remove(task_id)
            continue
        touched += _settle_dead(store, task_id, task, live)
    return touched


def _still_running(node: Node) -> bool:
    """True when the node's own process (not a later one reusing its pid) runs on this host."""
    if node.host != socket.gethostname():
        return False  # another host's process cannot be seen: its heartbeat decides
    try:
        # The node announced `started` after its process began; a recycled pid began later.
        process = psutil.Process(node.pid)
        began_before = process.create_time() <= node.started + 1.0
        return bool(began_before and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _settle_dead(store: Store, task_id: str, task: MLTask, live: set[str]) -> int:
    dead = [n for n in task.worker_node if n not in live]
    if not dead:
        return 0
    if task.task_type == MLTaskType.DEPLOY_MODEL:
        reported = store.deployments.results(task_id)
        for node in dead:
            if node not in reported:
                report(
                    store, task_id, node, f"Worker node {node} left the cluster before finishing"
                )
        return 1
    if task.state == MLTaskState.RUNNING:
        reason = f"Worker node {dead[0]} left the cluster before finishing the task"
        set_state(store, task_id, MLTaskState.FAILED, error=reason)
        return 1
    return 0

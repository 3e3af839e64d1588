"""Settle what a dead worker node left: its predicts go to live nodes (or are answered), and
no task stays RUNNING forever."""

from __future__ import annotations

import socket
import time

import psutil

from common.cluster_settings import effective
from common.dispatch import NO_NODE, reroute_queue
from common.errors import NodeUnavailableError
from common.messages import ErrorInfo, MessageError, PredictReply, PredictRequest
from common.nodes import alive, eligible
from common.queueing import node_queue
from common.records import MLModel, MLTask, MLTaskState, MLTaskType, Node
from common.store import Store
from common.tasks import set_state
from workers.deploy import report

# Take one request off a dead node's own list and, only if it was still there, put it at the
# head of another list: two sweepers racing over the same node never deliver it twice.
_MOVE_LUA = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


def sweep(store: Store, ttl_s: float) -> int:
    """Requeue dead nodes' predicts and settle their tasks; return how much was touched."""
    nodes = store.nodes.all()
    live_nodes = alive(nodes, ttl_s)
    live = {n.id for n in live_nodes}
    # A silent node whose process still runs on this host is stalled, not dead: its requests
    # may already be upstream, and requeueing them would send them twice.
    stalled = {n.id for n in nodes if n.id not in live and _still_running(n)}
    touched = 0
    for node_id in store.nodes.known_ids():
        if node_id in live:
            continue
        if node_id not in stalled:
            touched += store.predicts.requeue_inflight(node_id)
        # What waits on its own list was never taken: safe to move even from a stalled node.
        touched += _reroute_own_list(store, node_id, live_nodes)
    for task_id in store.active_tasks.older_than(ttl_s):
        task = store.tasks.get(task_id)
        if task is None or task.is_final:
            store.active_tasks.remove(task_id)
            continue
        touched += _settle_dead(store, task_id, task, live)
    return touched


def _reroute_own_list(store: Store, node_id: str, live: list[Node]) -> int:
    """Move the requests waiting on a dead node's own list (round_robin and custom-plan
    predicts, and its in-flight ones just requeued there) to nodes that can serve them, or
    answer them with an error at once: none waits for a node that will not come."""
    own = store.predicts.queue_key(node_queue(node_id))
    waiting = store.queue_redis.lrange(own, 0, -1)
    if not waiting:
        return 0
    cluster = effective(*store.cluster_settings.read())
    only_ml = cluster.only_run_on_ml_node
    servers = eligible(live, only_ml=only_ml)
    move = store.queue_redis.register_script(_MOVE_LUA)
    models: dict[str, MLModel | None] = {}
    moved = 0
    # Newest first (producers LPUSH): each goes to the head, so the oldest ends up next.
    for raw in waiting:
        request = _decode(raw)
        if request is None or request.deadline <= time.time():
            store.queue_redis.lrem(own, 1, raw)  # unreadable, or its caller stopped waiting
            continue
        if request.model_id not in models:
            models[request.model_id] = store.models.get(request.model_id)
        target = reroute_queue(models[request.model_id], servers, only_ml=only_ml)
        if target is not None:
            moved += int(move(keys=[own, store.predicts.queue_key(target)], args=[raw]))
        elif store.queue_redis.lrem(own, 1, raw) == 1:
            _refuse(store, node_id, request)
            moved += 1
    return moved


def _decode(raw: str | bytes) -> PredictRequest | None:
    try:
        return PredictRequest.decode(raw)
    except MessageError:
        return None


def _refuse(store: Store, node_id: str, request: PredictRequest) -> None:
    """Answer a request no live node may serve (ML Commons' message when none is eligible)."""
    error = ErrorInfo.of(NodeUnavailableError(NO_NODE))
    reply = PredictReply(
        request_id=request.request_id, node=node_id, node_name="", role="", error=error
    )
    store.replies.push(request.reply_key, reply)


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

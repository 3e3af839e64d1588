"""`modelgate status`: the cluster's nodes and queue depths, as a table or (--json) for scripts."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis

from common.errors import MLCommonsError
from common.queue_depths import celery_depths, predict_depths
from common.queueing import create_celery
from common.records import Node
from common.settings import Settings
from common.store import Store, open_store


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """One node as status shows it: its heartbeat's announcement and what it holds."""

    id: str
    name: str
    role: str
    host: str
    pid: int
    heartbeat_age_s: float
    alive: bool
    models: int  # deployed models the cluster records this node as holding
    in_flight: int  # predicts and jobs running at its last beat
    metrics_port: int | None


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the status sub-command's flags."""
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def node_statuses(store: Store, settings: Settings, now: float) -> list[NodeStatus]:
    """Every node in the node table with its heartbeat's age and the models it holds."""
    held: dict[str, int] = {}
    for model_id, model in store.models.all():
        if model.is_serving:
            for node_id in store.deployments.holders(model_id):
                held[node_id] = held.get(node_id, 0) + 1
    return [
        _status(node, now, settings.node_ttl_s, held.get(node.id, 0)) for node in store.nodes.all()
    ]


def _status(node: Node, now: float, ttl_s: float, models: int) -> NodeStatus:
    age = max(0.0, now - node.last_seen)
    return NodeStatus(
        id=node.id,
        name=node.name,
        role=node.role.value,
        host=node.host,
        pid=node.pid,
        heartbeat_age_s=round(age, 1),
        alive=age < ttl_s,
        models=models,
        in_flight=node.in_flight,
        metrics_port=node.metrics_port,
    )


def gather(settings: Settings) -> dict[str, Any]:
    """Read nodes and queue depths: the object `--json` prints."""
    store = open_store(settings)
    try:
        nodes = node_statuses(store, settings, time.time())
        node_ids = [node.id for node in nodes]
        queues = predict_depths(store, node_ids) + celery_depths(create_celery(settings), node_ids)
    finally:
        store.redis.close()
        store.queue_redis.close()
    return {"nodes": [asdict(n) for n in nodes], "queues": [asdict(q) for q in queues]}


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def render(status: dict[str, Any]) -> str:
    """The status as two tables: nodes, then queues."""
    nodes = [["ID", "NAME", "ROLE", "HOST", "PID", "HEARTBEAT", "MODELS", "IN-FLIGHT", "METRICS"]]
    for node in status["nodes"]:
        beat = f"{node['heartbeat_age_s']:.1f}s ago" + ("" if node["alive"] else " (dead)")
        port = node["metrics_port"]
        nodes.append(
            [
                node["id"],
                node["name"],
                node["role"],
                node["host"],
                str(node["pid"]),
                beat,
                str(node["models"]),
                str(node["in_flight"]),
                "off" if port is None else f":{port}",  # on the node's MODELGATE_METRICS_HOST
            ]
        )
    queues = [["KIND", "QUEUE", "DEPTH"]]
    queues += [[q["kind"], q["queue"], str(q["depth"])] for q in status["queues"]]
    return f"nodes\n{_table(nodes)}\n\nqueues\n{_table(queues)}"


def main(args: argparse.Namespace) -> int:
    """Print the status; 1 when Redis or the broker cannot be read."""
    try:
        status = gather(Settings.from_env())
    except (redis.RedisError, MLCommonsError) as error:
        print(f"modelgate status: cannot read the cluster: {error}", file=sys.stderr)
        return 1
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0

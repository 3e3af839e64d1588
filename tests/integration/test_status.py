"""`modelgate status` against the running test cluster: nodes, held models, queue depths."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from common.queueing import create_celery, node_queue
from common.records import Node, NodeRole
from tests.integration.cluster import Cluster, MockUpstream
from tools.cli import PROJECT_ROOT, command

PARKED = "status-parked"  # a node entry no process serves: its queues keep what is put there


def status(gw: Cluster, *flags: str) -> str:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    done = subprocess.run(
        command("status", *flags),
        cwd=PROJECT_ROOT,
        env={**inherited, **gw.settings.to_env()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def parked(gw: Cluster) -> Iterator[str]:
    """A data node's entry, alive for a minute, with 3 predicts and 1 job waiting for it."""
    store, node_id = gw.store, "parked-node-id"
    now = time.time()
    entry = Node(
        id=node_id,
        name=PARKED,
        role=NodeRole.DATA,
        host="parked-host",
        pid=4242,
        started=now,
        last_seen=now + 60,  # not swept while the test runs
        in_flight=2,
        metrics_port=None,
    )
    store.nodes.beat(entry)
    predicts = store.predicts.queue_key(node_queue(node_id))
    store.queue_redis.lpush(predicts, "a", "b", "c")
    celery = create_celery(gw.settings)
    celery.send_task("mg.status_test_never_run", queue=node_queue(node_id))
    try:
        yield node_id
    finally:
        store.nodes.forget(node_id)
        store.queue_redis.delete(predicts)
        with celery.connection_for_write() as conn:
            conn.default_channel.queue_purge(node_queue(node_id))


def _queue(body: dict[str, Any], kind: str, queue: str) -> int:
    found = [q["depth"] for q in body["queues"] if q["kind"] == kind and q["queue"] == queue]
    assert len(found) == 1, (kind, queue, body["queues"])
    return int(found[0])


def test_status_json_lists_nodes_and_queue_depths(
    gw: Cluster, mock: MockUpstream, parked: str
) -> None:
    upstream = {"endpoint": mock.host, "model": "gpt-3.5-turbo"}
    gw.register(gw.create_connector(parameters=upstream), "status-model", deploy=True)
    body = json.loads(status(gw, "--json"))
    nodes = {node["name"]: node for node in body["nodes"]}
    ml = nodes["ml-1"]
    assert ml["id"] == gw.node_id("ml-1") and ml["role"] == "ml" and ml["alive"]
    assert ml["pid"] > 0 and ml["host"] and ml["heartbeat_age_s"] < 5
    assert ml["models"] >= 1  # at least the model deployed above
    assert isinstance(ml["metrics_port"], int) and isinstance(ml["in_flight"], int)
    assert nodes["data-1"]["role"] == "data"
    fake = nodes[PARKED]
    assert (fake["host"], fake["pid"], fake["in_flight"], fake["models"]) == (
        "parked-host",
        4242,
        2,
        0,
    )
    assert fake["metrics_port"] is None
    assert _queue(body, "predict", node_queue(parked)) == 3
    assert _queue(body, "celery", node_queue(parked)) == 1
    assert _queue(body, "in_flight", parked) == 0
    for shared in ("ml", "ml_or_data"):
        assert _queue(body, "predict", shared) >= 0 and _queue(body, "celery", shared) >= 0


def test_status_prints_tables(gw: Cluster, parked: str) -> None:
    text = status(gw)
    nodes, _, queues = text.partition("\n\nqueues\n")
    assert nodes.startswith("nodes\nID")
    rows = {line.split()[1]: line.split() for line in nodes.splitlines()[2:]}
    assert set(rows) >= {"ml-1", "data-1", PARKED}
    assert rows[PARKED][2:5] == ["data", "parked-host", "4242"]
    assert rows[PARKED][-1] == "off"
    ml_port = next(n.metrics_port for n in gw.store.nodes.all() if n.name == "ml-1")
    assert rows["ml-1"][-1] == f":{ml_port}"
    waiting = [line.split() for line in queues.splitlines()]
    assert ["predict", node_queue(parked), "3"] in waiting
    assert ["celery", node_queue(parked), "1"] in waiting

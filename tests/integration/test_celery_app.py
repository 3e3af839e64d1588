"""The importable worker app: `celery -A workers.celery_app` pings, runs a node, sends events."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.queueing import create_celery
from common.records import Node, NodeRole
from common.settings import Settings
from tests.integration.cluster import LOOPBACK_TRUSTED, Cluster, MockUpstream, wait_for
from tests.integration.cluster import Node as NodeProcess
from tools import processes
from tools.cli import PROJECT_ROOT
from tools.embedded_redis import EmbeddedRedis

CELERY = [sys.executable, "-m", "celery", "-A", "workers.celery_app"]
HOST = socket.gethostname()
ASK = {"messages": [{"role": "user", "content": "Hello!"}]}

# Imports the app module with the environment and sockets watched, then reads `app`.
SIDE_EFFECTS_CHILD = """
import json, os, socket
from collections.abc import Mapping

reads, connects = [], []

class Watched(Mapping):
    def __init__(self, env): self._env = env
    def __getitem__(self, key): reads.append(key); return self._env[key]
    def __iter__(self): reads.append("*"); return iter(self._env)
    def __len__(self): return len(self._env)

os.environ = Watched(os.environ)
real_connect = socket.socket.connect
def connect(sock, address): connects.append(str(address)); return real_connect(sock, address)
socket.socket.connect = connect

import workers.celery_app as module
from celery.app.utils import find_app
on_import = {"reads": list(reads), "connects": list(connects), "names": sorted(vars(module))}
app = find_app("workers.celery_app")
print(json.dumps({
    "on_import": on_import,
    "reads": reads,
    "connects": connects,
    "same": app is module.app is module.celery,
    "broker": app.conf.broker_url,
}))
"""


def env_for(settings: Settings) -> dict[str, str]:
    """The environment of a process of this cluster: its settings and nothing else MODELGATE_."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    return {**inherited, **settings.to_env(), "PYTHONUNBUFFERED": "1"}


def node_table(cluster: Cluster) -> dict[str, Node]:
    """The node table: node id -> the entry its heartbeat wrote."""
    return {node.id: node for node in cluster.store.nodes.all()}


def inspect(settings: Settings, command: str, *names: str) -> dict[str, Any]:
    """Run `celery -A workers.celery_app inspect COMMAND --json`; return the answers by node.

    Naming the nodes lets Celery return as soon as each has answered, not after the timeout.
    """
    destination = ",".join(f"{name}@{HOST}" for name in names)
    done = subprocess.run(
        [*CELERY, "inspect", command, "--json", "--timeout", "10", "-d", destination],
        cwd=PROJECT_ROOT,
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def start_celery_node(cluster: Cluster, role: str, name: str) -> str:
    """Start a node with `celery ... worker`; return its id once its heartbeat shows it alive."""
    log_path = cluster.tmp / f"{cluster.settings.key_prefix}-{name}.log"
    cmd = [*CELERY, "worker", "--role", role, "--node-name", name, "--hostname", f"{name}@%h"]
    cmd += ["--without-gossip", "--without-mingle", "--loglevel", "WARNING"]
    with open(log_path, "ab") as log:
        process = processes.spawn(
            cmd,
            cwd=PROJECT_ROOT,
            env=env_for(cluster.settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    # Registered with the cluster, so its teardown stops this node too if a test fails.
    cluster.nodes[name] = NodeProcess(name, role, process, log_path)
    return str(wait_for(lambda: cluster.node_id(name), 30, f"celery node {name} heartbeat"))


@pytest.fixture(scope="module")
def bare(redis_server: EmbeddedRedis, tmp_root: Path) -> Iterator[Cluster]:
    """A cluster of its own with no node yet; data nodes may serve remote models."""
    running = Cluster.create(redis_server.url, tmp_root, "cel")
    try:
        running.start_api()
        running.set_settings(
            trusted_connector_endpoints_regex=[LOOPBACK_TRUSTED],
            connector__private_ip_enabled=True,
            only_run_on_ml_node=False,
        )
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def celery_node(bare: Cluster) -> str:
    """A data node started with `celery -A workers.celery_app worker`; its id."""
    return start_celery_node(bare, "data", "celery-data-1")


def test_import_reads_no_settings_and_find_app_builds_the_app_from_them() -> None:
    env = env_for(Settings(redis_url="redis://127.0.0.1:1/0", key_prefix="quiet"))
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", SIDE_EFFECTS_CHILD],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # Celery and kombu may look at their own variables when imported; ours are read later.
    assert [name for name in seen["on_import"]["reads"] if name.startswith("MODELGATE_")] == []
    assert seen["on_import"]["connects"] == []
    assert not {"app", "celery"} & set(seen["on_import"]["names"])
    assert "MODELGATE_REDIS_URL" in seen["reads"]
    assert seen["same"] is True
    assert seen["broker"] == "redis://127.0.0.1:1/0"
    # Building the app opens no connection either: the worker connects when it starts.
    assert seen["connects"] == []


@pytest.mark.parametrize(
    ("options", "environ", "refusal"),
    [
        (["--pool", "processes"], {}, "runs jobs on threads"),
        (["--role", "observer"], {}, "Invalid value for '--role'"),
        ([], {"MODELGATE_NODE_ROLE": "observer"}, "MODELGATE_NODE_ROLE must be one of ml, data"),
    ],
)
def test_celery_worker_refuses_what_a_node_cannot_run_as(
    options: list[str], environ: dict[str, str], refusal: str
) -> None:
    env = env_for(Settings(redis_url="redis://127.0.0.1:1/0", key_prefix="refused"))
    done = subprocess.run(
        [*CELERY, "worker", *options],
        cwd=PROJECT_ROOT,
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert refusal in done.stdout + done.stderr


def test_inspect_ping_answers_with_the_running_nodes(cluster: Cluster) -> None:
    answers = inspect(cluster.settings, "ping", "ml-1", "data-1")
    assert {f"ml-1@{HOST}", f"data-1@{HOST}"} <= set(answers)
    assert all(answer == {"ok": "pong"} for answer in answers.values())


def test_modelgate_worker_consumes_its_role_and_node_queues(cluster: Cluster) -> None:
    queues = inspect(cluster.settings, "active_queues", "ml-1", "data-1")
    for name, role_queues in (("ml-1", ["ml", "ml_or_data"]), ("data-1", ["ml_or_data"])):
        node_id = cluster.node_id(name)
        consumed = sorted(q["name"] for q in queues[f"{name}@{HOST}"])
        assert consumed == sorted([*role_queues, f"node.{node_id}"])


def test_celery_worker_joins_as_a_node_of_its_role(bare: Cluster, celery_node: str) -> None:
    node = node_table(bare)[celery_node]
    assert (node.name, node.role) == ("celery-data-1", NodeRole.DATA)
    assert [n.name for n in node_table(bare).values()] == ["celery-data-1"]
    answers = inspect(bare.settings, "active_queues", "celery-data-1")
    consumed = [q["name"] for q in answers[f"celery-data-1@{HOST}"]]
    assert sorted(consumed) == sorted(["ml_or_data", f"node.{celery_node}"])


def test_celery_worker_deploys_and_serves_predicts(
    bare: Cluster, celery_node: str, mock: MockUpstream
) -> None:
    connector_id = bare.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    # Deploy goes to the node's own queue, node.<id>: completing proves it is consumed.
    model_id = bare.register(connector_id, "celery-served", deploy=True)
    response = bare.predict(model_id, ASK)
    assert response.status_code == 200, response.text
    assert response.headers["X-Modelgate-Node"] == celery_node
    assert response.headers["X-Modelgate-Node-Name"] == "celery-data-1"
    assert response.headers["X-Modelgate-Node-Role"] == "data"


def test_lifecycle_jobs_send_task_events(
    bare: Cluster, celery_node: str, mock: MockUpstream
) -> None:
    events: list[dict[str, Any]] = []
    hostname = f"celery-data-1@{HOST}"
    app = create_celery(bare.settings)
    with app.connection_for_read() as connection:
        receiver = app.events.Receiver(connection, handlers={"*": events.append})
        # wakeup asks every worker for a heartbeat event: its arrival shows we are subscribed.
        listener = threading.Thread(target=receiver.capture, kwargs={"wakeup": True}, daemon=True)
        listener.start()
        try:
            wait_for(lambda: _events(events, "worker-heartbeat", hostname), 20, "a heartbeat")
            connector_id = bare.create_connector(parameters={"endpoint": mock.host, "model": "m"})
            model_id = bare.register(connector_id, "celery-events")
            bare.deploy(model_id)
            sent, received, succeeded = wait_for(
                lambda: _job_events(events, "mg.deploy_model"), 20, "deploy job events"
            )
        finally:
            receiver.should_stop = True
            listener.join(10)
    assert received["hostname"] == hostname
    assert sent["queue"] == f"node.{celery_node}"
    assert succeeded["hostname"] == hostname


def test_stopped_celery_worker_leaves_the_node_table(bare: Cluster) -> None:
    node_id = start_celery_node(bare, "data", "celery-data-2")
    process = bare.nodes.pop("celery-data-2").process
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert node_id not in node_table(bare)


def _events(events: list[dict[str, Any]], kind: str, hostname: str) -> list[dict[str, Any]]:
    return [e for e in list(events) if e["type"] == kind and e.get("hostname") == hostname]


def _job_events(events: list[dict[str, Any]], task_name: str) -> tuple[dict[str, Any], ...] | None:
    """The task-sent, task-received and task-succeeded events of the first job of task_name."""
    seen = list(events)
    uuids = [e["uuid"] for e in seen if e["type"] == "task-sent" and e.get("name") == task_name]
    for uuid in uuids:
        by_type = {e["type"]: e for e in seen if e.get("uuid") == uuid}
        if {"task-sent", "task-received", "task-succeeded"} <= set(by_type):
            return by_type["task-sent"], by_type["task-received"], by_type["task-succeeded"]
    return None

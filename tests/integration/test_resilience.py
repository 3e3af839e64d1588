"""Crashes and restarts: a killed worker's job is redelivered, dead nodes' tasks are settled,
and a restarted Redis keeps every record. Runs on its own Redis server and cluster."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from msgspec import structs

from common.records import FunctionName, MLModelState, MLTask, MLTaskState, MLTaskType
from tests.integration.cluster import (
    LOOPBACK_TRUSTED,
    Cluster,
    MockUpstream,
    connector_body,
    wait_for,
)
from tools.embedded_redis import EmbeddedRedis

ASK = {"messages": [{"role": "user", "content": "survive"}]}


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("resilience") / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def crash_mock(tmp_root: Path) -> Iterator[MockUpstream]:
    upstream = MockUpstream(tmp_root, "--latency-ms", "2500")
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def lone(own_redis: EmbeddedRedis, tmp_root: Path) -> Iterator[Cluster]:
    running = Cluster.create(own_redis.url, tmp_root, "res")
    try:
        running.start_api()
        running.start_node("ml", "victim")
        running.ok(
            "PUT",
            "/_cluster/settings",
            {
                "persistent": {
                    "plugins.ml_commons.trusted_connector_endpoints_regex": [LOOPBACK_TRUSTED],
                    "plugins.ml_commons.connector.private_ip_enabled": True,
                }
            },
        )
        yield running
    finally:
        running.stop()


def test_job_of_killed_worker_is_redelivered(lone: Cluster, crash_mock: MockUpstream) -> None:
    connector_id = lone.create_connector(parameters={"endpoint": crash_mock.host, "model": "m"})
    model_id = lone.register(connector_id, f"crash-{uuid.uuid4().hex[:6]}")
    lone.deploy(model_id)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(lone.predict, model_id, ASK)
        time.sleep(1.0)  # the victim has taken the job and waits on the slow upstream
        assert not pending.done()
        lone.kill_node("victim")
        rescuer = lone.start_node("ml", "rescuer")
        response = pending.result(timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["X-Modelgate-Node"] == rescuer
    content = response.json()["inference_results"][0]["output"][0]["dataAsMap"]
    assert content["choices"][0]["message"]["content"] == "Echo: survive"


def test_running_task_of_dead_node_is_failed(lone: Cluster) -> None:
    store = lone.store
    task_id = f"ghost-{uuid.uuid4().hex[:8]}"
    task = MLTask(
        task_type=MLTaskType.REGISTER_MODEL,
        function_name=FunctionName.REMOTE,
        state=MLTaskState.RUNNING,
        worker_node=["long-gone-node"],
        create_time=1,
        last_update_time=1,
        is_async=False,
    )
    store.tasks.put(task_id, task)
    store.redis.zadd(store.active_tasks.key, {task_id: time.time() - 60})
    if not lone.nodes:
        lone.start_node("ml", "sweeper")

    def failed() -> dict[str, object] | None:
        got = lone.ok("GET", f"/_plugins/_ml/tasks/{task_id}")
        return got if got["state"] == "FAILED" else None

    settled = wait_for(failed, 15, "the sweeper to fail the dead node's task")
    assert (
        settled["error"] == "Worker node long-gone-node left the cluster before finishing the task"
    )


def test_restarted_redis_keeps_records_and_service_resumes(
    lone: Cluster, own_redis: EmbeddedRedis, mock: MockUpstream
) -> None:
    if not lone.nodes:
        lone.start_node("ml", "after-crash")
    connector_id = lone.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    model_id = lone.register(connector_id, f"persist-{uuid.uuid4().hex[:6]}")
    lone.deploy(model_id)
    before = lone.ok("GET", f"/_plugins/_ml/models/{model_id}")
    own_redis.stop()
    own_redis.start()
    assert lone.ok("GET", f"/_plugins/_ml/models/{model_id}") == before
    assert "credential" not in lone.ok("GET", f"/_plugins/_ml/connectors/{connector_id}")

    def predicted() -> requests.Response | None:
        response = lone.predict(model_id, ASK)
        return response if response.status_code == 200 else None

    response = wait_for(
        predicted, 30, "predict to work again after the Redis restart", interval=0.5
    )
    assert json.loads(response.text)["inference_results"][0]["status_code"] == 200


def test_deploy_settles_when_a_planned_node_dies(lone: Cluster, mock: MockUpstream) -> None:
    if not lone.nodes:
        lone.start_node("ml", "steady")
    steady = next(iter(lone.nodes))
    doomed_id = lone.start_node("ml", "doomed")
    connector_id = lone.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    model_id = lone.register(connector_id, f"partial-{uuid.uuid4().hex[:6]}")
    lone.nodes["doomed"].process.send_signal(signal.SIGSTOP)  # frozen: takes no job, no heartbeat
    try:
        answer = lone.ok("POST", f"/_plugins/_ml/models/{model_id}/_deploy")
        task = lone.task(answer["task_id"], until=("COMPLETED_WITH_ERROR",))
    finally:
        lone.kill_node("doomed")
    assert sorted(task["worker_node"]) == sorted([lone.node_id(steady), doomed_id])
    assert task["state"] == "COMPLETED_WITH_ERROR"
    assert json.loads(task["error"]) == {
        doomed_id: f"Worker node {doomed_id} left the cluster before finishing"
    }
    model = lone.ok("GET", f"/_plugins/_ml/models/{model_id}")
    assert model["model_state"] == "PARTIALLY_DEPLOYED" and model["current_worker_node_count"] == 1
    assert lone.predict(model_id, ASK).status_code == 200


def _tallied_connector(gw: Cluster, upstream: MockUpstream, tally: str) -> str:
    body = connector_body(parameters={"endpoint": upstream.host, "model": "m"})
    action = body["actions"][0]
    action["url"] = f"http://{upstream.host}/v1/chat/completions?tally={tally}"
    return str(gw.ok("POST", "/_plugins/_ml/connectors/_create", body)["connector_id"])


def _upstream_hits(upstream: MockUpstream, tally: str) -> int:
    return int(requests.get(f"{upstream.base}/tally/{tally}", timeout=5).json()["count"])


def test_a_stalled_node_is_not_robbed_of_its_requests(
    lone: Cluster, crash_mock: MockUpstream
) -> None:
    """A node silent past the heartbeat limit while its process lives keeps what it took:
    requeueing would send the request upstream a second time."""
    for name in list(lone.nodes):
        lone.kill_node(name)
    lone.start_node("data", "sweeper")  # sweeps dead nodes; never takes ML-only predicts
    lone.start_node("ml", "sleeper")
    tally = f"stall-{uuid.uuid4().hex[:8]}"
    model_id = lone.register(_tallied_connector(lone, crash_mock, tally), tally)
    lone.deploy(model_id)
    sleeper = lone.nodes["sleeper"].process
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(lone.predict, model_id, ASK)
        wait_for(
            lambda: pending.done() or _upstream_hits(crash_mock, tally) == 1, 10, "the request"
        )
        assert not pending.done(), pending.result().text
        sleeper.send_signal(signal.SIGSTOP)
        try:
            # Well past the node's time-to-live: the sweeper has run several times meanwhile.
            time.sleep(lone.settings.node_ttl_s + 4 * lone.settings.heartbeat_interval_s)
            assert lone.node_id("sleeper") is None  # it does look dead
            inflight = lone.store.predicts.inflight_key(lone.store.nodes.id_for("sleeper", "-"))
            assert lone.store.queue_redis.llen(inflight) == 1
        finally:
            sleeper.send_signal(signal.SIGCONT)
        response = pending.result(timeout=30)
    assert response.status_code == 200, response.text
    assert _upstream_hits(crash_mock, tally) == 1


def test_a_restarted_node_resumes_the_deploy_it_left_unfinished(
    lone: Cluster, mock: MockUpstream
) -> None:
    """The node died after taking its deploy job: the task names it, nothing is recorded.
    Restarted under its name (same id), it finishes the deploy itself instead of leaving the
    model DEPLOYING until Celery's visibility timeout brings the job back."""
    for name in list(lone.nodes):
        lone.kill_node(name)
    node_id = lone.start_node("ml", "phoenix")
    model_id = lone.register(
        lone.create_connector(parameters={"endpoint": mock.host, "model": "m"}),
        f"phoenix-{uuid.uuid4().hex[:6]}",
    )
    lone.kill_node("phoenix")
    store = lone.store
    task_id = f"lost-{uuid.uuid4().hex[:8]}"
    task = MLTask(
        task_type=MLTaskType.DEPLOY_MODEL,
        function_name=FunctionName.REMOTE,
        state=MLTaskState.RUNNING,
        model_id=model_id,
        worker_node=[node_id],
        create_time=1,
        last_update_time=1,
        is_async=True,
    )
    store.tasks.put(task_id, task)
    store.active_tasks.add(task_id)
    store.models.update(model_id, lambda m: structs.replace(m, model_state=MLModelState.DEPLOYING))
    assert lone.start_node("ml", "phoenix") == node_id
    settled = lone.task(task_id, until=("COMPLETED",))
    assert settled["state"] == "COMPLETED"
    assert lone.ok("GET", f"/_plugins/_ml/models/{model_id}")["model_state"] == "DEPLOYED"
    assert store.deployments.holders(model_id) == {node_id}

"""Concurrent deploys and undeploys of one model end in a state that agrees with its nodes."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.cluster import Cluster, MockUpstream, wait_for

FINAL = ("COMPLETED", "COMPLETED_WITH_ERROR", "FAILED")
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def no_auto_deploy(broker_gw: Cluster) -> Iterator[Cluster]:
    # Auto-deploy would redeploy an undeployed model on the first predict and hide the state.
    broker_gw.set_settings(model_auto_deploy__enable=False)
    yield broker_gw
    broker_gw.set_settings(model_auto_deploy__enable=None)


def _storm(gw: Cluster, model_id: str, deploys: int, undeploys: int, seed: int) -> list[str]:
    """Fire deploys and undeploys in a random order from many threads; return deploy task ids."""
    calls = ["deploy"] * deploys + ["undeploy"] * undeploys
    random.Random(seed).shuffle(calls)

    def one(kind: str) -> str | None:
        answer = gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_{kind}")
        return answer.get("task_id") if kind == "deploy" else None

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, calls))
    return [task_id for task_id in results if task_id is not None]


def _settled(gw: Cluster, task_ids: list[str]) -> list[dict[str, object]]:
    def all_final() -> list[dict[str, object]] | None:
        tasks = [gw.ok("GET", f"/_plugins/_ml/tasks/{t}") for t in task_ids]
        return tasks if all(t["state"] in FINAL for t in tasks) else None

    settled: list[dict[str, object]] = wait_for(all_final, 30, "deploy tasks to settle")
    return settled


def _assert_agrees(gw: Cluster, model_id: str) -> str:
    """The model's state, the nodes recorded as holding it and what predict does agree."""
    state = gw.ok("GET", f"/_plugins/_ml/models/{model_id}")["model_state"]
    holders = gw.store.deployments.holders(model_id)
    answer = gw.predict(model_id, CHAT)
    if state == "UNDEPLOYED":
        assert holders == set(), f"UNDEPLOYED but held by {holders}"
        assert answer.status_code == 400, answer.text
    else:
        assert state == "DEPLOYED", state
        assert holders, "DEPLOYED but held by no node"
        assert answer.status_code == 200, answer.text
    return str(state)


# Every deploy and undeploy job goes to a node's own queue: one storm runs on RabbitMQ too.
@pytest.mark.parametrize(
    ("broker_gw", "seed"),
    [("redis", 1), ("redis", 2), ("redis", 3), ("rabbitmq", 1)],
    indirect=["broker_gw"],
)
def test_parallel_deploys_and_undeploys_agree(
    no_auto_deploy: Cluster, mock: MockUpstream, seed: int
) -> None:
    gw = no_auto_deploy
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    model_id = gw.register(connector_id, f"race-{seed}")
    task_ids = _storm(gw, model_id, deploys=20, undeploys=20, seed=seed)
    tasks = _settled(gw, task_ids)
    state = _assert_agrees(gw, model_id)
    if state == "UNDEPLOYED":
        # Each deploy that an undeploy overtook says so instead of claiming success.
        failed = [t for t in tasks if t["state"] != "COMPLETED"]
        for task in failed:
            assert "undeployed" in str(task.get("error", "")), task
    # Whatever the storm left, one more call of each kind decides the state again.
    gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_undeploy")
    assert _assert_agrees(gw, model_id) == "UNDEPLOYED"
    _settled(gw, [gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_deploy")["task_id"]])
    assert _assert_agrees(gw, model_id) == "DEPLOYED"
    gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_undeploy")


def test_undeploy_right_after_deploy_leaves_nothing_held(
    no_auto_deploy: Cluster, mock: MockUpstream
) -> None:
    gw = no_auto_deploy
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    for round_ in range(5):
        model_id = gw.register(connector_id, f"quick-{round_}")
        task_id = gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_deploy")["task_id"]
        gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_undeploy")
        (task,) = _settled(gw, [task_id])
        assert _assert_agrees(gw, model_id) == "UNDEPLOYED"
        if task["state"] != "COMPLETED":
            assert "undeployed" in str(task.get("error", "")), task

"""deploy_setting.model_ttl_minutes: the beat's sync-up undeploys models idle past their TTL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from msgspec import structs

from common.records import MLModel, now_ms
from tests.integration.cluster import Cluster, MockUpstream, wait_for
from tools import processes

CHAT = {"messages": [{"role": "user", "content": "hi"}]}
MINUTE_MS = 60_000


@pytest.fixture(params=["modelgate beat", "worker --with-beat"])
def start_beat(gw: Cluster, request: pytest.FixtureRequest) -> Iterator[Callable[[], None]]:
    """Start a beat (when the test is ready for sync-ups) with a 1-second interval: its own
    process, or a thread of a node (as `modelgate up` runs it)."""
    gw.set_settings(sync_up_job_interval_in_seconds=1)
    started: list[processes.Child] = []

    def start() -> None:
        if request.param == "modelgate beat":
            started.append(gw.start_beat())
        else:
            gw.start_node("data", "beat-node", "--with-beat")
            started.append(gw.nodes.pop("beat-node").process)

    yield start
    processes.stop(*started, grace_s=10)
    gw.set_settings(sync_up_job_interval_in_seconds=None)


def _deployed(gw: Cluster, mock: MockUpstream, ttl_minutes: int | None) -> str:
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    body: dict[str, object] = {
        "name": f"ttl-{uuid.uuid4().hex[:6]}",
        "function_name": "remote",
        "connector_id": connector_id,
    }
    if ttl_minutes is not None:
        body["deploy_setting"] = {"model_ttl_minutes": ttl_minutes}
    answer = gw.ok("POST", "/_plugins/_ml/models/_register", body)
    assert gw.task(answer["task_id"])["state"] == "COMPLETED"
    gw.deploy(answer["model_id"])
    return str(answer["model_id"])


def _age(gw: Cluster, model_id: str, minutes: int) -> None:
    """Make the model look deployed and last used `minutes` ago."""
    past = now_ms() - minutes * MINUTE_MS

    def backdate(model: MLModel) -> MLModel:
        return structs.replace(model, last_deployed_time=past)

    gw.store.models.update(model_id, backdate)
    gw.store.redis.hset(gw.store.key("model_access"), model_id, past)


def _state(gw: Cluster, model_id: str) -> str:
    return str(gw.ok("GET", f"/_plugins/_ml/models/{model_id}")["model_state"])


def test_idle_models_past_their_ttl_are_undeployed(
    gw: Cluster, mock: MockUpstream, start_beat: Callable[[], None]
) -> None:
    idle = _deployed(gw, mock, ttl_minutes=1)
    used = _deployed(gw, mock, ttl_minutes=1)
    forever = _deployed(gw, mock, ttl_minutes=None)
    never = _deployed(gw, mock, ttl_minutes=-1)  # ML Commons' default: never expires
    for model_id in (idle, used, forever, never):
        _age(gw, model_id, minutes=2)
    # A predict refreshes the last use; the API flushes it within seconds, with no write per
    # predict.
    assert gw.predict(used, CHAT).status_code == 200
    wait_for(
        lambda: (gw.store.model_access.last_used(used) or 0) > now_ms() - MINUTE_MS,
        15,
        "the predict's use to reach Redis",
    )
    start_beat()
    wait_for(lambda: _state(gw, idle) == "UNDEPLOYED", 15, "the idle model to expire")
    assert gw.store.deployments.holders(idle) == set()
    assert gw.predict(idle, CHAT).status_code == 200  # auto-deploy brings it back on demand
    for model_id in (used, forever, never):
        assert _state(gw, model_id) == "DEPLOYED"
    for model_id in (idle, used, forever, never):
        gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_undeploy")


def test_sync_up_runs_once_per_interval(gw: Cluster) -> None:
    claim_key = gw.store.key("model_access") + ":sync_up"
    gw.store.redis.delete(claim_key)  # a claim left by an earlier test's beat
    claims = [gw.store.model_access.claim_sync_up(30) for _ in range(5)]
    gw.store.redis.delete(claim_key)
    assert claims == [True, False, False, False, False]

"""plugins.ml_commons.task_dispatch_policy on remote predicts: round_robin gives each request
to the next node holding the model, on that node's own list; least_load leaves it on the
shared list every eligible node pulls from; a node killed under round_robin strands nothing."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from common.messages import PredictRequest
from tests.integration.cluster import LOOPBACK_TRUSTED, Cluster, MockUpstream, wait_for
from tools.embedded_redis import EmbeddedRedis

ASK = {"messages": [{"role": "user", "content": "dispatch me"}]}
P = "plugins.ml_commons."


@pytest.fixture
def policy_gw(gw: Cluster) -> Iterator[Cluster]:
    """The shared cluster; the settings this module changes are reset afterwards."""
    yield gw
    reset = {P + "task_dispatch_policy": None, P + "allow_custom_deployment_plan": None}
    gw.ok("PUT", "/_cluster/settings", {"persistent": reset})


def _model(gw: Cluster, upstream: MockUpstream) -> str:
    connector_id = gw.create_connector(parameters={"endpoint": upstream.host, "model": "m"})
    model_id = gw.register(connector_id, f"dispatch-{uuid.uuid4().hex[:8]}")
    gw.deploy(model_id)
    return model_id


def _served(gw: Cluster, model_id: str) -> str:
    response = gw.predict(model_id, ASK)
    assert response.status_code == 200, response.text
    return response.headers["X-Modelgate-Node-Name"]


def test_round_robin_gives_the_eligible_nodes_turns(policy_gw: Cluster, mock: MockUpstream):
    gw = policy_gw
    gw.set_settings(only_run_on_ml_node=False, task_dispatch_policy="round_robin")
    model_id = _model(gw, mock)
    # One API process and one request at a time: its rotation alternates exactly.
    served = [_served(gw, model_id) for _ in range(12)]
    assert Counter(served) == {"ml-1": 6, "data-1": 6}
    assert all(one != other for one, other in zip(served, served[1:], strict=False))


def test_round_robin_turns_stay_within_a_custom_plan(policy_gw: Cluster, mock: MockUpstream):
    gw = policy_gw
    gw.set_settings(
        only_run_on_ml_node=False,
        task_dispatch_policy="round_robin",
        allow_custom_deployment_plan=True,
    )
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    model_id = gw.register(connector_id, f"planned-{uuid.uuid4().hex[:8]}")
    data_node = gw.node_id("data-1")
    answer = gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_deploy", {"node_ids": [data_node]})
    gw.task(answer["task_id"])
    assert {_served(gw, model_id) for _ in range(6)} == {"data-1"}


def _queues_in_flight(gw: Cluster, model_id: str, count: int) -> set[str]:
    """Send count slow predicts at once; the `queue` of those seen on the nodes' in-flight
    lists while they run (the list the API put each one on)."""
    store, seen = gw.store, set()
    inflight = [store.predicts.inflight_key(str(gw.node_id(n))) for n in ("ml-1", "data-1")]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for key in inflight:
                for raw in store.queue_redis.lrange(key, 0, -1):
                    request = PredictRequest.decode(raw)
                    if request.model_id == model_id:
                        seen.add(request.queue)
            done.wait(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with ThreadPoolExecutor(max_workers=count) as pool:
        statuses = list(pool.map(lambda _: gw.predict(model_id, ASK).status_code, range(count)))
    done.set()
    watcher.join()
    assert statuses == [200] * count
    return seen


def test_least_load_leaves_predicts_on_the_shared_list(policy_gw: Cluster, slow_mock: MockUpstream):
    gw = policy_gw
    gw.set_settings(only_run_on_ml_node=False, task_dispatch_policy="least_load")
    assert _queues_in_flight(gw, _model(gw, slow_mock), 4) == {"ml_or_data"}


def test_unset_means_least_load(policy_gw: Cluster, slow_mock: MockUpstream):
    gw = policy_gw
    gw.set_settings(only_run_on_ml_node=False, task_dispatch_policy=None)
    assert _queues_in_flight(gw, _model(gw, slow_mock), 4) == {"ml_or_data"}


def test_round_robin_puts_predicts_on_the_nodes_own_lists(
    policy_gw: Cluster, slow_mock: MockUpstream
):
    gw = policy_gw
    gw.set_settings(only_run_on_ml_node=False, task_dispatch_policy="round_robin")
    seen = _queues_in_flight(gw, _model(gw, slow_mock), 4)
    assert seen == {f"node.{gw.node_id('ml-1')}", f"node.{gw.node_id('data-1')}"}


# A node killed under round_robin ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pair(
    redis_server: EmbeddedRedis, queue_server: EmbeddedRedis, tmp_root: Path
) -> Iterator[Cluster]:
    """A cluster of its own with two ML nodes, one of which the test kills."""
    running = Cluster.create(redis_server.url, tmp_root, "rrkill", queue_server.url)
    try:
        running.start_api()
        running.start_node("ml", "ml-a")
        running.start_node("ml", "ml-b")
        running.ok(
            "PUT",
            "/_cluster/settings",
            {
                "persistent": {
                    P + "trusted_connector_endpoints_regex": [LOOPBACK_TRUSTED],
                    P + "connector.private_ip_enabled": True,
                    P + "task_dispatch_policy": "round_robin",
                }
            },
        )
        yield running
    finally:
        running.stop()


def test_a_killed_node_strands_no_round_robin_predict(pair: Cluster, slow_mock: MockUpstream):
    """Until the cluster sees ml-b dead, every other request still goes on ml-b's own list;
    the sweeper of the surviving node moves them (and those ml-b held) to a live node. Without
    that they would wait for the predict timeout and end in 504."""
    model_id = _model(pair, slow_mock)
    ml_b = pair.node_id("ml-b")
    answers: list[requests.Response] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            answers.append(pair.predict(model_id, ASK))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        wait_for(lambda: any(_node(a) == "ml-b" for a in answers), 30, "ml-b to serve")
        pair.kill_node("ml-b")
        killed_at = len(answers)
        # Requests keep coming while the cluster notices: some go on the dead node's list.
        wait_for(lambda: pair.node_id("ml-b") is None, 30, "ml-b to look dead")
        store = pair.store
        own = store.predicts.queue_key(f"node.{ml_b}")
        wait_for(lambda: store.queue_redis.llen(own) == 0, 30, "ml-b's own list to be emptied")
        served_after = len(answers) + 8
        wait_for(lambda: len(answers) >= served_after, 60, "more predicts after the failover")
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    assert [a.status_code for a in answers if a.status_code != 200] == []
    assert {_node(a) for a in answers[:killed_at]} == {"ml-a", "ml-b"}
    assert {_node(a) for a in answers[served_after:]} <= {"ml-a"}


def _node(answer: requests.Response) -> str:
    return answer.headers.get("X-Modelgate-Node-Name", "")

"""plugins.ml_commons.only_run_on_ml_node decides which nodes deploy and serve remote models."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.cluster import Cluster, MockUpstream
from tests.integration.rabbitmq import BROKERS

ASK = {"messages": [{"role": "user", "content": "route me"}]}
# The register job goes to the role's shared queue and each deploy job to a node's own queue:
# the same routing on either broker (predicts stay on Redis lists whatever the broker).
ON_EACH_BROKER = pytest.mark.parametrize("broker_gw", BROKERS, indirect=True)


def slow_model(gw: Cluster, slow: MockUpstream) -> str:
    connector_id = gw.create_connector(parameters={"endpoint": slow.host, "model": "m"})
    return gw.register(connector_id, f"route-{uuid.uuid4().hex[:8]}")


def served_roles(gw: Cluster, model_id: str, count: int) -> set[str]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        responses = list(pool.map(lambda _: gw.predict(model_id, ASK), range(count)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    return {r.headers["X-Modelgate-Node-Role"] for r in responses}


@ON_EACH_BROKER
def test_true_means_only_ml_nodes(broker_gw: Cluster, slow_mock: MockUpstream) -> None:
    gw = broker_gw
    gw.set_settings(only_run_on_ml_node=True)
    model_id = slow_model(gw, slow_mock)
    task = gw.deploy(model_id)
    assert task["worker_node"] == [gw.node_id("ml-1")]
    assert served_roles(gw, model_id, 16) == {"ml"}


@ON_EACH_BROKER
def test_false_lets_data_nodes_serve_too(broker_gw: Cluster, slow_mock: MockUpstream) -> None:
    gw = broker_gw
    gw.set_settings(only_run_on_ml_node=False)
    model_id = slow_model(gw, slow_mock)
    task = gw.deploy(model_id)
    assert sorted(task["worker_node"]) == sorted([gw.node_id("ml-1"), gw.node_id("data-1")])
    model = gw.ok("GET", f"/_plugins/_ml/models/{model_id}")
    assert model["current_worker_node_count"] == 2
    # Four job threads per node and sixteen requests of 150 ms each: one node cannot take all.
    assert served_roles(gw, model_id, 16) == {"ml", "data"}


def test_transient_setting_overrides_persistent(gw: Cluster, slow_mock: MockUpstream) -> None:
    gw.set_settings(only_run_on_ml_node=False)
    gw.ok(
        "PUT", "/_cluster/settings", {"transient": {"plugins.ml_commons.only_run_on_ml_node": True}}
    )
    model_id = slow_model(gw, slow_mock)
    assert gw.deploy(model_id)["worker_node"] == [gw.node_id("ml-1")]


def test_malformed_queue_entry_is_dropped_and_service_continues(
    gw: Cluster, slow_mock: MockUpstream
) -> None:
    from tests.integration.cluster import wait_for

    store = gw.store
    queues = store.queue_redis
    queues.lpush(store.predicts.queue_key("ml"), "not a request")
    ml_inflight = store.predicts.inflight_key(str(gw.node_id("ml-1")))
    wait_for(lambda: queues.llen(store.predicts.queue_key("ml")) == 0, 10, "the entry to be taken")
    wait_for(
        lambda: "not a request" not in queues.lrange(ml_inflight, 0, -1),
        10,
        "the entry to leave the in-flight list",
    )
    gw.set_settings(only_run_on_ml_node=True)
    model_id = slow_model(gw, slow_mock)
    assert gw.predict(model_id, ASK).status_code == 200

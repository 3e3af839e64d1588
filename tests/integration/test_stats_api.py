"""GET /_plugins/_ml/stats and /_plugins/_ml/profile against a running cluster."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.cluster import Cluster, MockUpstream, connector_body, wait_for

STATS = "/_plugins/_ml/stats"


def _action_counts(body: dict[str, Any], node_id: str, action: str) -> tuple[int, int]:
    counts = body["nodes"][node_id]["algorithms"].get("remote", {}).get(action, {})
    return counts.get("ml_action_request_count", 0), counts.get("ml_action_failure_count", 0)


def _model_predicts(gw: Cluster, node_id: str, model_id: str) -> dict[str, Any] | None:
    models = gw.ok("GET", f"/_plugins/_ml/{node_id}/stats")["nodes"][node_id]["models"]
    predict: dict[str, Any] | None = models.get(model_id, {}).get("predict")
    return predict


def _deployed_model(gw: Cluster, connector: dict[str, Any], name: str) -> str:
    connector_id = gw.ok("POST", "/_plugins/_ml/connectors/_create", connector)["connector_id"]
    model_id = gw.register(connector_id, name)
    assert gw.deploy(model_id)["state"] == "COMPLETED"
    return model_id


@pytest.fixture
def served(gw: Cluster, mock: MockUpstream) -> dict[str, Any]:
    """Three deployed models on the ML node, predicted 3 times fine, 2 refused, 1 throttled."""
    before = gw.ok("GET", STATS)
    upstream = {"endpoint": mock.host, "model": "gpt-3.5-turbo"}
    ok = _deployed_model(gw, connector_body(parameters=upstream), "stats-ok")
    down = _deployed_model(gw, connector_body(), "stats-down")  # 127.0.0.1:1: refused
    action = {**connector_body()["actions"][0], "url": "http://${parameters.endpoint}/status/429"}
    busy_connector = connector_body(parameters=upstream, actions=[action])
    busy = _deployed_model(gw, busy_connector, "stats-busy")
    messages = {"messages": [{"role": "user", "content": "hi"}]}
    statuses = [gw.predict(ok, messages).status_code for _ in range(3)]
    statuses += [gw.predict(down, messages).status_code for _ in range(2)]
    statuses.append(gw.predict(busy, messages).status_code)
    assert statuses == [200, 200, 200, 500, 500, 429]
    ml, data = gw.node_id("ml-1"), gw.node_id("data-1")
    assert ml and data
    # Counters reach Redis with the next heartbeat.
    wait_for(lambda: _model_predicts(gw, ml, busy), 10, "the ML node's stats to show predicts")
    return {"before": before, "ok": ok, "down": down, "busy": busy, "ml": ml, "data": data}


def test_stats_count_predicts_per_node_and_per_model(gw: Cluster, served: dict[str, Any]) -> None:
    ml, data, before = served["ml"], served["data"], served["before"]
    ok = _model_predicts(gw, ml, served["ok"])
    assert ok is not None and ok["ml_action_request_count"] == 3
    assert "ml_action_failure_count" not in ok  # as ML Commons: only once one failed
    assert ok["modelgate_latency_ms"]["count"] == 3 and ok["modelgate_latency_ms"]["max"] > 0
    down = _model_predicts(gw, ml, served["down"])
    assert down is not None
    assert (down["ml_action_request_count"], down["ml_action_failure_count"]) == (2, 2)
    busy = _model_predicts(gw, ml, served["busy"])
    assert busy is not None and busy["modelgate_upstream_throttle_count"] == 1
    after = gw.ok("GET", STATS)
    old_predicts = _action_counts(before, ml, "predict")
    new_predicts = _action_counts(after, ml, "predict")
    assert (new_predicts[0] - old_predicts[0], new_predicts[1] - old_predicts[1]) == (6, 3)
    assert _action_counts(after, ml, "deploy")[0] - _action_counts(before, ml, "deploy")[0] == 3
    node = after["nodes"][ml]
    assert node["ml_request_count"] >= 9 and node["ml_failure_count"] >= 3
    assert node["ml_deployed_model_count"] >= 3 and node["ml_circuit_breaker_trigger_count"] == 0
    assert 0 <= node["ml_jvm_heap_usage"] <= 100
    assert (node["name"], node["roles"], bool(node["host"])) == ("ml-1", ["ml"], True)
    assert served["ok"] not in after["nodes"][data]["models"]  # data nodes serve no remote model


def test_stats_count_records_cluster_wide(gw: Cluster, served: dict[str, Any]) -> None:
    before, after = served["before"], gw.ok("GET", STATS)
    assert after["ml_model_count"] - before["ml_model_count"] == 3
    assert after["ml_connector_count"] - before["ml_connector_count"] == 3
    for kind in ("model", "connector", "config", "task"):
        assert after[f"ml_{kind}_index_status"] == "green"
    assert after["ml_controller_index_status"] == "non-existent"
    assert list(after)[-1] == "nodes"


def test_stats_filter_nodes_by_id_name_and_all(gw: Cluster, served: dict[str, Any]) -> None:
    ml, data = served["ml"], served["data"]
    assert list(gw.ok("GET", f"/_plugins/_ml/{ml}/stats")["nodes"]) == [ml]
    assert list(gw.ok("GET", "/_plugins/_ml/data-1/stats")["nodes"]) == [data]
    both = gw.ok("GET", f"/_plugins/_ml/{ml},{data}/stats")["nodes"]
    assert set(both) == {ml, data}
    assert {ml, data} <= set(gw.ok("GET", "/_plugins/_ml/_all/stats")["nodes"])
    nobody = gw.ok("GET", "/_plugins/_ml/no-such-node/stats")
    assert "nodes" not in nobody and "ml_model_count" in nobody


def test_stats_filter_by_stat_name(gw: Cluster, served: dict[str, Any]) -> None:
    ml = served["ml"]
    node_only = gw.ok("GET", f"/_plugins/_ml/{ml}/stats/ml_request_count")
    assert list(node_only) == ["nodes"]
    assert set(node_only["nodes"][ml]) == {"ml_request_count", "name", "host", "roles"}
    cluster_only = gw.ok("GET", f"{STATS}/ml_model_count,ML_CONNECTOR_COUNT")
    assert set(cluster_only) == {"ml_model_count", "ml_connector_count"}
    wrong = gw.call("GET", f"{STATS}/ml_no_such_stat")
    assert wrong.status_code == 400
    error = wrong.json()
    assert error["status"] == 400 and error["error"]["type"] == "illegal_argument_exception"
    assert error["error"]["root_cause"][0]["reason"] == "Wrong ML cluster level stat"


def test_profile_shows_holders_and_latency_then_nothing_after_undeploy(
    gw: Cluster, served: dict[str, Any]
) -> None:
    ml, ok = served["ml"], served["ok"]
    body = gw.ok("GET", f"/_plugins/_ml/profile/models/{ok}")
    assert list(body["nodes"]) == [ml]
    profile = body["nodes"][ml]["models"][ok]
    assert profile["model_state"] == "DEPLOYED"
    assert profile["predictor"].startswith(
        "org.opensearch.ml.engine.algorithms.remote.RemoteModel@"
    )
    assert profile["target_worker_nodes"] == [ml] and profile["worker_nodes"] == [ml]
    stats = profile["predict_request_stats"]
    assert stats["count"] == 3 and 0 < stats["min"] <= stats["p50"] <= stats["p99"] <= stats["max"]
    every = gw.ok("GET", "/_plugins/_ml/profile/models")["nodes"][ml]["models"]
    assert {ok, served["down"], served["busy"]} <= set(every)
    assert set(gw.ok("GET", "/_plugins/_ml/profile")["nodes"][ml]["models"]) == set(every)
    by_model = gw.ok("GET", f"/_plugins/_ml/profile/models/{ok}", view="model")
    assert by_model["models"][ok]["worker_nodes"] == [ml]
    assert by_model["models"][ok]["nodes"][ml]["model_state"] == "DEPLOYED"
    assert "worker_nodes" not in by_model["models"][ok]["nodes"][ml]
    gw.ok("POST", f"/_plugins/_ml/models/{ok}/_undeploy")
    assert gw.ok("GET", f"/_plugins/_ml/profile/models/{ok}") == {}
    assert gw.ok("GET", "/_plugins/_ml/profile/models/no-such-model") == {}


def test_throttles_counted_by_an_api_process_reach_the_stats(gw: Cluster) -> None:
    store = gw.store
    before = gw.ok("GET", f"{STATS}/modelgate_throttle_count")["modelgate_throttle_count"]
    for _ in range(3):
        store.node_stats.count_throttle("throttled-model")
    store.node_stats.flush_throttles()
    after = gw.ok("GET", f"{STATS}/modelgate_throttle_count")["modelgate_throttle_count"]
    assert after["throttled-model"] - before.get("throttled-model", 0) == 3

"""Tests for workers.stats (in-memory counters), their published form, and the stats shapes."""

from __future__ import annotations

import msgspec
import pytest

from api.cluster_stats import StatFilter, node_stats, parse_stats
from api.model_profile import by_model
from common.errors import IllegalArgumentError, MLCommonsError
from common.messages import ErrorInfo
from common.records import Node, NodeRole
from common.stores.node_stats import NodeCounters
from workers.stats import RECENT_PREDICTS, NodeStats, percentile, summarize

THROTTLED = ErrorInfo(type="status_exception", reason="slow down", status=429)
REFUSED = ErrorInfo(type="status_exception", reason="Connection refused", status=500)
NODE = Node(id="n1", name="ml-1", role=NodeRole.ML, host="box", pid=1, started=0, last_seen=0)


def _served(stats: NodeStats, model_id: str, ms: float, error: ErrorInfo | None = None) -> None:
    stats.predict_started()
    stats.predict_finished(model_id, ms / 1000.0, error)


def test_predicts_are_counted_per_model_with_failures_and_latency():
    stats = NodeStats()
    for ms in (10.0, 30.0, 20.0):
        _served(stats, "m1", ms)
    _served(stats, "m1", 5.0, REFUSED)
    _served(stats, "m2", 7.0, THROTTLED)
    snap = stats.snapshot(rss_percent=12)
    m1, m2 = snap.models["m1"], snap.models["m2"]
    assert (m1.requests, m1.failures, m1.upstream_throttled) == (4, 1, 0)
    assert (m2.requests, m2.failures, m2.upstream_throttled) == (1, 1, 1)
    assert m1.latency_sum_ms == pytest.approx(65.0) and m1.latency_max_ms == pytest.approx(30.0)
    assert m1.recent is not None and m1.recent.count == 4 and m1.recent.min == pytest.approx(5.0)
    assert snap.actions["predict"].requests == 5 and snap.actions["predict"].failures == 2
    assert snap.executing == 0 and snap.rss_percent == 12


def test_the_profile_summary_covers_only_the_latest_predicts():
    stats = NodeStats()
    for ms in range(1, RECENT_PREDICTS * 2 + 1):
        _served(stats, "m", float(ms))
    counters = stats.snapshot().models["m"]
    assert counters.requests == RECENT_PREDICTS * 2  # the totals keep counting
    recent = counters.recent
    assert recent is not None and recent.count == RECENT_PREDICTS
    assert recent.min == RECENT_PREDICTS + 1 and recent.max == RECENT_PREDICTS * 2
    assert recent.average == pytest.approx((RECENT_PREDICTS + 1 + RECENT_PREDICTS * 2) / 2)


def test_percentiles_interpolate_between_samples_as_guava_does():
    ordered = [float(v) for v in range(1, 11)]  # 1..10
    assert percentile(ordered, 50) == pytest.approx(5.5)
    assert percentile(ordered, 90) == pytest.approx(9.1)
    assert percentile(ordered, 99) == pytest.approx(9.91)
    assert percentile([4.0], 99) == 4.0
    summary = summarize([3.0, 1.0, 2.0])
    assert (summary.min, summary.p50, summary.max, summary.average) == (1.0, 2.0, 3.0, 2.0)


def test_jobs_count_failures_reported_or_raised_and_show_while_executing():
    stats = NodeStats()
    with stats.job("register", failed=lambda: False):
        assert stats.snapshot().executing == 1
    with stats.job("deploy", failed=lambda: True):
        pass
    with pytest.raises(MLCommonsError), stats.job("deploy", failed=lambda: False):
        raise MLCommonsError("boom")
    snap = stats.snapshot()
    assert snap.executing == 0
    assert snap.actions["register"].requests == 1 and snap.actions["register"].failures == 0
    assert snap.actions["deploy"].requests == 2 and snap.actions["deploy"].failures == 2


def test_counters_round_trip_through_their_published_json():
    stats = NodeStats()
    _served(stats, "m", 12.5)
    snap = stats.snapshot(rss_percent=3)
    assert msgspec.json.decode(msgspec.json.encode(snap), type=NodeCounters) == snap


def test_a_node_entry_has_ml_commons_keys_and_modelgate_additions():
    stats = NodeStats()
    _served(stats, "m", 10.0)
    _served(stats, "m", 20.0, REFUSED)
    entry = node_stats(NODE, stats.snapshot(rss_percent=7), deployed=1, wanted=StatFilter())
    assert entry["ml_request_count"] == 2 and entry["ml_failure_count"] == 1
    assert entry["ml_deployed_model_count"] == 1 and entry["ml_jvm_heap_usage"] == 7
    assert entry["ml_circuit_breaker_trigger_count"] == 0
    assert entry["algorithms"] == {
        "remote": {"predict": {"ml_action_request_count": 2, "ml_action_failure_count": 1}}
    }
    predict = entry["models"]["m"]["predict"]
    assert predict["ml_action_request_count"] == 2 and predict["ml_action_failure_count"] == 1
    assert predict["modelgate_latency_ms"] == {"count": 2, "sum": 30.0, "max": 20.0}
    assert (entry["name"], entry["host"], entry["roles"]) == ("ml-1", "box", ["ml"])


def test_an_idle_node_shows_no_actions_and_no_failure_counts():
    entry = node_stats(NODE, NodeCounters(), deployed=0, wanted=StatFilter())
    assert entry["algorithms"] == {} and entry["models"] == {}
    assert "ml_jvm_heap_usage" not in entry  # unknown off Linux: omitted, not made up


def test_a_stat_filter_keeps_only_the_named_stats():
    wanted = parse_stats("ML_REQUEST_COUNT,ml_model_count")
    assert wanted.node_level and wanted.cluster_level
    entry = node_stats(NODE, NodeCounters(), deployed=0, wanted=wanted)
    assert entry == {"ml_request_count": 0, "name": "ml-1", "host": "box", "roles": ["ml"]}
    assert not parse_stats("ml_model_count").node_level
    with pytest.raises(IllegalArgumentError, match="Wrong ML cluster level stat"):
        parse_stats("ml_no_such_stat")


def test_the_model_view_regroups_node_profiles_by_model():
    profile = {"model_state": "DEPLOYED", "target_worker_nodes": ["a", "b"], "worker_nodes": ["a"]}
    grouped = by_model({"a": {"m": profile}, "b": {"m": {"model_state": "DEPLOYING"}}})
    assert grouped == {
        "m": {
            "target_worker_nodes": ["a", "b"],
            "worker_nodes": ["a"],
            "nodes": {"a": {"model_state": "DEPLOYED"}, "b": {"model_state": "DEPLOYING"}},
        }
    }

"""Metric outcomes, the node's plain histograms against prometheus_client's, the on/off switch."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram

from api import create_app
from common.metrics import LATENCY_BUCKETS, Outcome, outcome_of, upstream_error_kind
from common.settings import Settings
from tools.bench.metrics_cost import MetricsCost, Run
from workers.metrics_server import Latency

SAMPLES = [0.0, 0.0005, 0.0007, 0.001, 0.0011, 0.3, 2.5, 59.9, 60.0, 61.0, 1e9]


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (None, Outcome.OK),
        (200, Outcome.OK),
        (400, Outcome.ERROR),
        (404, Outcome.ERROR),
        (429, Outcome.THROTTLED),
        (500, Outcome.ERROR),
        (502, Outcome.ERROR),
        (504, Outcome.TIMEOUT),
    ],
)
def test_outcome_of_a_status(status: int | None, outcome: Outcome) -> None:
    assert outcome_of(status) == outcome


@pytest.mark.parametrize(
    ("status", "kind"),
    [(200, None), (204, None), (299, None), (302, "other"), (400, "4xx"), (429, "4xx")]
    + [(500, "5xx"), (599, "5xx"), (600, "other"), (101, "other")],
)
def test_upstream_error_kind(status: int, kind: str | None) -> None:
    assert upstream_error_kind(status) == kind


def test_the_nodes_histogram_matches_prometheus_clients() -> None:
    registry = CollectorRegistry()
    reference = Histogram("h", "h", ["node", "role"], buckets=LATENCY_BUCKETS, registry=registry)
    ours = Latency()
    for seconds in SAMPLES:
        reference.labels("n", "ml").observe(seconds)
        ours.observe(seconds)
    expected = {
        (s.name, s.labels.get("le")): s.value
        for s in next(iter(registry.collect())).samples
        if not s.name.endswith("_created")
    }
    got = {
        (s.name, s.labels.get("le")): s.value for s in ours.family("h", "h", ("n", "ml")).samples
    }
    assert got == expected
    assert got[("h_bucket", "0.001")] == 4  # a value equal to a bound is in that bucket


@pytest.mark.parametrize("on", [True, False])
def test_metrics_endpoint_exists_only_when_on(on: bool) -> None:
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0", metrics=on))
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    assert ("/metrics" in routes) is on
    wrapped = app.view_functions["predict.predict"]
    assert (getattr(wrapped, "__wrapped__", None) is not None) is on


def test_metrics_cost_compares_medians_against_the_target() -> None:
    off = tuple(Run(rps, 1.0, 0) for rps in (1000.0, 900.0, 1100.0))
    kept = MetricsCost(64, off, tuple(Run(rps, 1.02, 0) for rps in (960.0, 990.0, 940.0)))
    assert kept.kept == pytest.approx(0.96)
    assert "kept 96.0%" in kept.describe() and ": met" in kept.describe()
    assert "+0.020 ms" in kept.describe()
    lost = MetricsCost(64, off, tuple(Run(rps, 1.1, 0) for rps in (900.0, 940.0, 930.0)))
    assert "not met" in lost.describe()
    failed = MetricsCost(64, off, (Run(1000.0, 1.0, 3), *off[1:]))
    assert "3 errors): not met" in failed.describe()

"""Prometheus metrics after a known load: the API's GET /metrics and the ML node's own port."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.cluster import (
    LOOPBACK_TRUSTED,
    Cluster,
    MockUpstream,
    connector_body,
    wait_for,
)
from tools import processes
from tools.cli import PROJECT_ROOT, command
from tools.embedded_redis import free_port

MESSAGES = [{"role": "user", "content": "hi"}]
REFUSED = "127.0.0.1:1"  # nothing listens there: the node's call is refused


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include these (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


def node_metrics_url(gw: Cluster, name: str) -> str:
    def announced() -> str | None:
        for node in gw.store.nodes.all():
            if node.name == name and node.metrics_port:
                return f"http://127.0.0.1:{node.metrics_port}/metrics"
        return None

    return str(wait_for(announced, 10, f"{name} to announce its metrics port"))


@pytest.fixture(scope="module")
def loaded(cluster: Cluster, mock: MockUpstream) -> dict[str, Any]:
    """One fresh model predicted 5 times fine and twice refused, one answered 429 upstream;
    the ML node registered and deployed both; scrapes before and after (once per module)."""
    gw = cluster
    gw.set_settings(
        trusted_connector_endpoints_regex=[LOOPBACK_TRUSTED], connector__private_ip_enabled=True
    )
    ml_url = node_metrics_url(gw, "ml-1")
    before = {"api": scrape(gw.url + "/metrics"), "ml": scrape(ml_url)}
    upstream = {"endpoint": mock.host, "model": "gpt-3.5-turbo"}
    model = gw.register(gw.create_connector(parameters=upstream), "metrics-model", deploy=True)
    action = {**connector_body()["actions"][0], "url": "http://${parameters.endpoint}/status/429"}
    busy_connector = gw.create_connector(parameters=upstream, actions=[action])
    busy = gw.register(busy_connector, "metrics-busy", deploy=True)
    statuses = [gw.predict(model, {"messages": MESSAGES}).status_code for _ in range(5)]
    refused = {"messages": MESSAGES, "endpoint": REFUSED}
    statuses += [gw.predict(model, refused).status_code for _ in range(2)]
    statuses.append(gw.predict(busy, {"messages": MESSAGES}).status_code)
    assert statuses == [200] * 5 + [500, 500, 429]
    gw.ok("POST", f"/_plugins/_ml/models/{busy}/_undeploy")
    ml_id = gw.node_id("ml-1")
    assert ml_id
    after_ml = wait_for(
        lambda: _undeploy_counted(ml_url, before["ml"], ml_id), 10, "the undeploy job's count"
    )
    after = {"api": scrape(gw.url + "/metrics"), "ml": after_ml}
    return {"model": model, "busy": busy, "ml": ml_id, "before": before, "after": after}


def _undeploy_counted(url: str, before: Samples, node: str) -> Samples | None:
    now = scrape(url)
    labels = {"node": node, "action": "undeploy", "outcome": "success"}
    counted = value(now, "modelgate_jobs_total", **labels) > value(
        before, "modelgate_jobs_total", **labels
    )
    return now if counted else None


def delta(loaded: dict[str, Any], where: str, name: str, **labels: str) -> float:
    after, before = loaded["after"][where], loaded["before"][where]
    return value(after, name, **labels) - value(before, name, **labels)


def test_the_api_counts_predicts_by_model_node_role_and_outcome(loaded: dict[str, Any]) -> None:
    api, model, ml = loaded["after"]["api"], loaded["model"], loaded["ml"]
    ok = {"model": model, "node": ml, "role": "ml", "outcome": "ok"}
    assert value(api, "modelgate_api_predicts_total", **ok) == 5
    # A failed predict's error does not name the node that answered it.
    assert value(api, "modelgate_api_predicts_total", model=model, outcome="error") == 2
    assert value(api, "modelgate_api_predicts_total", model=loaded["busy"]) == 1
    assert value(api, "modelgate_api_predicts_total", model=loaded["busy"], outcome="throttled")
    assert delta(loaded, "api", "modelgate_api_predict_seconds_count") == 8
    assert delta(loaded, "api", "modelgate_api_predict_seconds_bucket", le="+Inf") == 8
    assert delta(loaded, "api", "modelgate_api_predict_seconds_sum") > 0


def test_a_predict_of_an_unknown_model_is_counted_without_its_id(gw: Cluster) -> None:
    before = scrape(gw.url + "/metrics")
    assert gw.predict("no-such-model", {"messages": MESSAGES}).status_code == 404
    after = scrape(gw.url + "/metrics")
    name, unknown = "modelgate_api_predicts_total", {"model": "unknown", "outcome": "error"}
    assert value(after, name, **unknown) - value(before, name, **unknown) == 1
    assert value(after, name, model="no-such-model") == 0


def test_both_predict_paths_count_alike(gw: Cluster) -> None:
    # A plain predict is served by api/fast_predict.py, one with a query string by Flask's
    # route: each counts a body it refuses as a failed predict, and a request refused before
    # the route (an oversized header field) as no predict at all.
    name = "modelgate_api_predicts_total"
    path = gw.url + "/_plugins/_ml/models/no-such-model/_predict"
    for query in ("", "?via=flask"):
        before = scrape(gw.url + "/metrics")
        bad = requests.post(path + query, data=b"[1]", timeout=10)
        huge = requests.post(path + query, data=b"{}", headers={"X-L": "v" * 9000}, timeout=10)
        assert (bad.status_code, huge.status_code) == (400, 431)
        after = scrape(gw.url + "/metrics")
        counted = value(after, name, outcome="error") - value(before, name, outcome="error")
        assert counted == 1, query
        # Counted as an unknown model: a made-up id in the URL never becomes a series.
        assert value(after, name, model="no-such-model") == 0


def test_the_node_counts_its_predicts_upstream_calls_and_latency(loaded: dict[str, Any]) -> None:
    ml, model, busy = loaded["ml"], loaded["model"], loaded["busy"]
    node = loaded["after"]["ml"]
    predicts = "modelgate_node_predicts_total"
    assert value(node, predicts, model=model, node=ml, role="ml", outcome="ok") == 5
    assert value(node, predicts, model=model, node=ml, role="ml", outcome="error") == 2
    assert value(node, predicts, model=busy, outcome="throttled") == 1
    assert delta(loaded, "ml", "modelgate_node_predict_seconds_count", node=ml) == 8
    assert delta(loaded, "ml", "modelgate_queue_wait_seconds_count", node=ml) == 8
    # The refused calls never got an answer: 6 answered calls (5 fine, one 429) were timed.
    assert delta(loaded, "ml", "modelgate_upstream_seconds_count", node=ml) == 6
    errors = "modelgate_upstream_errors_total"
    assert delta(loaded, "ml", errors, node=ml, kind="transport") == 2
    assert delta(loaded, "ml", errors, node=ml, kind="4xx") == 1
    assert delta(loaded, "ml", "modelgate_upstream_throttled_total", node=ml) == 1
    assert value(node, "modelgate_node_in_flight", node=ml, role="ml") == 0


def test_the_node_counts_upstream_retries(gw: Cluster, mock: MockUpstream) -> None:
    ml_url = node_metrics_url(gw, "ml-1")
    action = {**connector_body()["actions"][0], "url": "http://${parameters.endpoint}/status/503"}
    retrying = {"max_retry_times": 2, "retry_backoff_millis": 10}
    connector = gw.create_connector(
        parameters={"endpoint": mock.host, "model": "m"}, actions=[action], client_config=retrying
    )
    model = gw.register(connector, "metrics-retries", deploy=True)
    before = scrape(ml_url)
    assert gw.predict(model, {"messages": MESSAGES}).status_code == 503
    after = scrape(ml_url)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("modelgate_upstream_retries_total") == 2
    assert grew("modelgate_upstream_errors_total", kind="5xx") == 3  # every attempt
    assert grew("modelgate_upstream_seconds_count") == 3
    assert value(after, "modelgate_node_predicts_total", model=model, outcome="error") == 1


def test_the_node_counts_lifecycle_job_outcomes(loaded: dict[str, Any]) -> None:
    ml = loaded["ml"]
    for action, count in (("register", 2), ("deploy", 2), ("undeploy", 1)):
        labels = {"node": ml, "action": action, "outcome": "success"}
        assert delta(loaded, "ml", "modelgate_jobs_total", **labels) == count, action
        failed = {**labels, "outcome": "failure"}
        assert delta(loaded, "ml", "modelgate_jobs_total", **failed) == 0, action


def test_the_api_reports_queue_depths(gw: Cluster) -> None:
    samples = scrape(gw.url + "/metrics")
    kinds = {dict(labels)["kind"] for name, labels in samples if name == "modelgate_queue_depth"}
    assert kinds == {"predict", "in_flight", "celery"}
    assert value(samples, "modelgate_queue_depth", kind="predict", queue="ml") >= 0


def test_predict_answers_name_the_nodes_host(gw: Cluster, mock: MockUpstream) -> None:
    upstream = {"endpoint": mock.host, "model": "gpt-3.5-turbo"}
    model = gw.register(gw.create_connector(parameters=upstream), "metrics-host", deploy=True)
    response = gw.predict(model, {"messages": MESSAGES})
    assert response.status_code == 200
    node = next(n for n in gw.store.nodes.all() if n.id == response.headers["X-Modelgate-Node"])
    assert response.headers["X-Modelgate-Node-Host"] == node.host != ""


@pytest.fixture
def two_workers(gw: Cluster, tmp_path: Path) -> Iterator[str]:
    """A second API of the cluster with 2 granian workers, on a metrics directory that holds a
    stale file of an earlier run (unreadable: a scrape would fail if it were kept)."""
    files = tmp_path / "multiproc"
    files.mkdir()
    (files / "counter_1.db").write_bytes(b"stale")
    settings = dataclasses.replace(gw.settings, port=free_port(), api_workers=2)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    env = {**inherited, **settings.to_env(), "PROMETHEUS_MULTIPROC_DIR": str(files)}
    with open(tmp_path / "api.log", "wb") as log:
        process = processes.spawn(
            command("api"),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            dies_with_parent=True,
        )
    url = f"http://127.0.0.1:{settings.port}"
    try:
        wait_for(lambda: _answers(url), 30, "the second API")
        yield url
    finally:
        processes.stop(process, grace_s=20)


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/", timeout=1).ok
    except requests.ConnectionError:
        return False


def test_every_api_worker_scrapes_the_sum_of_all(
    gw: Cluster, mock: MockUpstream, two_workers: str
) -> None:
    upstream = {"endpoint": mock.host, "model": "gpt-3.5-turbo"}
    model = gw.register(gw.create_connector(parameters=upstream), "metrics-workers", deploy=True)
    url = f"{two_workers}/_plugins/_ml/models/{model}/_predict"
    for _ in range(20):  # a new connection each: the workers share them out
        response = requests.post(url, json={"parameters": {"messages": MESSAGES}}, timeout=30)
        assert response.status_code == 200
    for _ in range(10):
        samples = scrape(two_workers + "/metrics")
        assert value(samples, "modelgate_api_predicts_total", model=model, outcome="ok") == 20


def test_a_node_with_metrics_off_serves_none_and_says_so(gw: Cluster, tmp_path: Path) -> None:
    settings = dataclasses.replace(gw.settings, metrics=False)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    cmd = command("worker", "--role", "data", "--name", "data-quiet", "--loglevel", "WARNING")
    with open(tmp_path / "node.log", "wb") as log:
        process = processes.spawn(
            cmd,
            cwd=PROJECT_ROOT,
            env={**inherited, **settings.to_env()},
            stdout=log,
            stderr=subprocess.STDOUT,
            dies_with_parent=True,
        )
    try:
        node_id = wait_for(lambda: gw.node_id("data-quiet"), 30, "the quiet node's heartbeat")
        entry = next(n for n in gw.store.nodes.all() if n.id == node_id)
        assert entry.metrics_port is None
        loud = next(n for n in gw.store.nodes.all() if n.name == "data-1")
        assert loud.metrics_port is not None  # the same cluster's nodes with metrics on
    finally:
        processes.stop(process, grace_s=20)

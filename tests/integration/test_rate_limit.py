"""A model's rate_limiter: one budget shared by every API process and node serving it."""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.integration.cluster import Cluster, MockUpstream, free_port

CHAT = {"messages": [{"role": "user", "content": "hi"}]}
THROTTLED = "Request is throttled at model level."


def _register(gw: Cluster, mock: MockUpstream, limiter: Any) -> requests.Response:
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    body = {
        "name": f"limited-{uuid.uuid4().hex[:6]}",
        "function_name": "remote",
        "connector_id": connector_id,
        "rate_limiter": limiter,
    }
    return gw.call("POST", "/_plugins/_ml/models/_register", body)


def _limited_model(gw: Cluster, mock: MockUpstream, limit: str, unit: str) -> str:
    answer = _register(gw, mock, {"limit": limit, "unit": unit})
    assert answer.status_code == 200, answer.text
    model_id = str(answer.json()["model_id"])
    assert gw.task(answer.json()["task_id"])["state"] == "COMPLETED"
    gw.deploy(model_id)
    return model_id


@pytest.fixture
def second_api(gw: Cluster) -> Iterator[Cluster]:
    """Another API process of the same cluster, on its own port."""
    other = Cluster(settings=dataclasses.replace(gw.settings, port=free_port()), tmp=gw.tmp)
    other.start_api()
    yield other
    other.stop()


def test_the_limit_is_kept_on_the_model(gw: Cluster, mock: MockUpstream) -> None:
    model_id = _limited_model(gw, mock, "4", "minutes")
    model = gw.ok("GET", f"/_plugins/_ml/models/{model_id}")
    assert model["rate_limiter"] == {"limit": "4", "unit": "MINUTES"}


def test_predicts_past_the_limit_get_429(gw: Cluster, mock: MockUpstream) -> None:
    model_id = _limited_model(gw, mock, "3", "MINUTES")
    statuses = Counter()
    for _ in range(7):
        answer = gw.predict(model_id, CHAT)
        statuses[answer.status_code] += 1
        if answer.status_code == 429:
            body = answer.json()
            assert body["status"] == 429
            assert body["error"]["type"] == "status_exception"
            assert body["error"]["reason"] == THROTTLED
    assert statuses == {200: 3, 429: 4}


def test_one_budget_across_two_api_processes_and_two_nodes(
    gw: Cluster, second_api: Cluster, mock: MockUpstream
) -> None:
    gw.set_settings(only_run_on_ml_node=False)  # both the ML and the data node serve
    model_id = _limited_model(gw, mock, "10", "HOURS")
    apis = [gw, second_api] * 20

    def one(api: Cluster) -> tuple[int, str]:
        answer = api.predict(model_id, CHAT)
        return answer.status_code, answer.headers.get("X-Modelgate-Node-Role", "")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, apis))
    served = [role for status, role in results if status == 200]
    assert len(served) == 10, results
    assert sum(status == 429 for status, _ in results) == 30
    assert set(served) == {"ml", "data"}  # the budget held with both nodes serving


def test_a_zero_limit_refuses_every_predict(gw: Cluster, mock: MockUpstream) -> None:
    model_id = _limited_model(gw, mock, "0", "SECONDS")
    assert gw.predict(model_id, CHAT).status_code == 429


@pytest.mark.parametrize(
    "limiter",
    [
        {"limit": "-1", "unit": "MINUTES"},
        {"limit": "many", "unit": "MINUTES"},
        {"limit": "NaN", "unit": "MINUTES"},
        {"limit": "Infinity", "unit": "MINUTES"},
        {"limit": "4", "unit": "FORTNIGHTS"},
        {"limit": "4"},
        {"unit": "MINUTES"},
        {"limit": None, "unit": "MINUTES"},
        {"limit": ["4"], "unit": "MINUTES"},
        "4/min",
    ],
)
def test_malformed_limiters_are_refused(gw: Cluster, mock: MockUpstream, limiter: Any) -> None:
    answer = _register(gw, mock, limiter)
    assert answer.status_code == 400, answer.text
    assert answer.json()["status"] == 400

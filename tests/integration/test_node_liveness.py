"""A large answer is shaped off the node's event loop: the node keeps serving and beating."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.integration.cluster import Cluster, MockUpstream, connector_body, wait_for

CHAT = {"messages": [{"role": "user", "content": "hi"}]}
BIG_BYTES = 60_000_000  # under max_json_size (100 MB); seconds of parsing in one C call


def _model(gw: Cluster, url: str) -> str:
    body = connector_body()
    body["actions"][0]["url"] = url
    connector_id = gw.ok("POST", "/_plugins/_ml/connectors/_create", body)["connector_id"]
    model_id = gw.register(connector_id, f"live-{uuid.uuid4().hex[:6]}")
    gw.deploy(model_id)
    return model_id


def _hits(mock: MockUpstream, tally: str) -> int:
    return int(requests.get(f"{mock.base}/tally/{tally}", timeout=5).json()["count"])


def test_a_large_answer_does_not_stall_the_node(gw: Cluster, mock: MockUpstream) -> None:
    tally = f"big-{uuid.uuid4().hex[:8]}"
    big = _model(gw, f"http://{mock.host}/hostile/big?bytes={BIG_BYTES}&kind=floats&tally={tally}")
    small = _model(gw, f"http://{mock.host}/v1/chat/completions")
    node_id = gw.node_id("ml-1")
    latencies: list[float] = []
    ages: list[float] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(gw.predict, big, CHAT)
        wait_for(lambda: _hits(mock, tally) == 1, 10, "the large request upstream")
        while not pending.done():
            started = time.monotonic()
            answer = gw.predict(small, CHAT)
            latencies.append(time.monotonic() - started)
            assert answer.status_code == 200, answer.text
            assert answer.headers["X-Modelgate-Node"] == node_id  # the busy node served it
            node = next(n for n in gw.store.nodes.all() if n.id == node_id)
            ages.append(time.time() - node.last_seen)
        response = pending.result()
    assert response.status_code == 200, response.text[:300]
    assert len(response.content) > BIG_BYTES / 2
    assert _hits(mock, tally) == 1  # sent upstream once: never redelivered
    assert len(latencies) >= 5, latencies  # the large answer took a while: predicts ran meanwhile
    assert max(latencies) < 1.0, latencies  # none of them waited for the parse
    assert max(ages) < gw.settings.node_ttl_s, ages  # and the node never looked dead

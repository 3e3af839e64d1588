"""Large predicts leave a node's memory where it was: nothing of them is kept."""

from __future__ import annotations

import time

import psutil

from tests.integration.cluster import Cluster, MockUpstream

MIB = 2**20


def _rss_mib(process: psutil.Process) -> float:
    tree = [process, *process.children(recursive=True)]  # with the answer-shaping child
    return sum(p.memory_info().rss for p in tree) / MIB


def test_large_predicts_leave_no_memory_behind(gw: Cluster, mock: MockUpstream) -> None:
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    model_id = gw.register(connector_id, "memory-probe")
    gw.deploy(model_id)
    node = psutil.Process(gw.nodes["ml-1"].process.pid)
    assert gw.predict(model_id, {"messages": [{"role": "user", "content": "warm"}]}).ok
    before = _rss_mib(node)
    # 20 MiB prompts are echoed back whole; 50 MiB ones fail on the node (the payload limit).
    for size, status in ((20, 200), (20, 200), (50, 400), (50, 400)):
        prompt = {"messages": [{"role": "user", "content": "x" * (size * MIB)}]}
        answer = gw.predict(model_id, prompt)
        assert answer.status_code == status, answer.text[:300]
        if status == 400:
            assert "too large" in answer.json()["error"]["reason"]
    time.sleep(1)
    grown = _rss_mib(node) - before
    # Each of those requests passed through the node as several copies of 20-50 MiB; what is
    # left is at most the shaping child's working set, not a copy per request.
    assert grown < 120, f"the node grew by {grown:.0f} MiB"

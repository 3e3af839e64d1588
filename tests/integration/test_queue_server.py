"""The memory-only queue server: prompts never reach the disk, and losing it fails fast."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.integration.cluster import LOOPBACK_TRUSTED, Cluster, MockUpstream, wait_for
from tools import processes
from tools.embedded_redis import EmbeddedRedis


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[EmbeddedRedis, EmbeddedRedis]]:
    root = tmp_path_factory.mktemp("queue-server")
    records = EmbeddedRedis(root / "records")
    queues = EmbeddedRedis(root / "queues", persistent=False)
    records.start()
    queues.start()
    yield records, queues
    queues.stop()
    records.stop()


@pytest.fixture(scope="module")
def slow(tmp_root: Path) -> Iterator[MockUpstream]:
    upstream = MockUpstream(tmp_root, "--latency-ms", "1500")
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def split(servers: tuple[EmbeddedRedis, EmbeddedRedis], tmp_root: Path) -> Iterator[Cluster]:
    records, queues = servers
    running = Cluster.create(records.url, tmp_root, "qs", queues.url)
    try:
        running.start_api()
        running.start_node("ml", "qs-ml")
        running.set_settings(
            trusted_connector_endpoints_regex=[LOOPBACK_TRUSTED], connector__private_ip_enabled=True
        )
        yield running
    finally:
        running.stop()


def _model(cluster: Cluster, upstream: MockUpstream, marker: str) -> str:
    connector = cluster.create_connector(
        name=f"connector {marker}", parameters={"endpoint": upstream.host, "model": "m"}
    )
    model_id = cluster.register(connector, f"model-{marker}")
    cluster.deploy(model_id)
    return model_id


def _aof_text(server: EmbeddedRedis) -> str:
    return "".join(
        path.read_bytes().decode("latin1") for path in server.data_dir.rglob("*") if path.is_file()
    )


def test_prompts_and_answers_stay_off_the_disk(
    split: Cluster, servers: tuple[EmbeddedRedis, EmbeddedRedis], mock: MockUpstream
) -> None:
    records, queues = servers
    marker = uuid.uuid4().hex
    model_id = _model(split, mock, marker)
    ask = {"messages": [{"role": "user", "content": f"secret prompt {marker}"}]}
    for _ in range(5):
        answer = split.predict(model_id, ask)
        assert answer.status_code == 200 and f"Echo: secret prompt {marker}" in answer.text
    on_disk = _aof_text(records)
    assert f"connector {marker}" in on_disk  # the records' append-only file is what we read
    assert f"secret prompt {marker}" not in on_disk
    assert not list(queues.data_dir.rglob("*.aof")) and not list(queues.data_dir.rglob("*.rdb"))


def test_losing_the_queue_server_fails_in_flight_predicts_fast_then_service_resumes(
    split: Cluster, servers: tuple[EmbeddedRedis, EmbeddedRedis], slow: MockUpstream
) -> None:
    _, queues = servers
    model_id = _model(split, slow, uuid.uuid4().hex[:8])
    ask = {"messages": [{"role": "user", "content": "in flight"}]}
    with ThreadPoolExecutor(8) as pool:
        pending = [pool.submit(split.predict, model_id, ask) for _ in range(8)]
        time.sleep(0.6)  # taken by the node, waiting on the slow upstream
        assert not any(p.done() for p in pending)
        killed = time.monotonic()
        assert queues.process is not None
        processes.stop(queues.process, sig=signal.SIGKILL)
        answers = [p.result(timeout=15) for p in pending]
        took = time.monotonic() - killed
    assert took < 5, f"in-flight predicts took {took:.1f}s to end (deadline is 20 s)"
    for answer in answers:
        assert answer.status_code == 503, answer.text
        error = answer.json()
        assert error["status"] == 503 and error["error"]["root_cause"]
    # Meanwhile the records are untouched and the API answers everything else.
    assert split.ok("GET", f"/_plugins/_ml/models/{model_id}")["model_state"] == "DEPLOYED"
    refused = split.predict(model_id, ask)
    assert refused.status_code == 503 and refused.json()["status"] == 503
    queues.start()  # same port, empty memory
    answer = wait_for(lambda: _served(split, model_id, ask), 30, "service to resume")
    assert "Echo: in flight" in answer.text


def _served(cluster: Cluster, model_id: str, ask: dict[str, object]) -> requests.Response | None:
    answer = cluster.predict(model_id, ask)
    return answer if answer.status_code == 200 else None

"""`modelgate up` runs Redis, the API and both node roles, restarts what dies, and Ctrl-C stops
them all."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from tests.integration.up_stack import (
    STOP_BOUND_S,
    Up,
    deploy_model,
    eventually,
    json_of,
    kill9,
    predict,
)
from tools.embedded_redis import free_port


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    stack = Up(tmp_path, "--mock-upstream", "--mock-upstream-port", str(free_port()))
    yield stack
    stack.cleanup()


def _mock_host(up: Up) -> str:
    found = re.search(r"mock upstream on http://(\S+)", up.text())
    assert found, up.text()
    return found.group(1)


def _predicts_again(up: Up, model_id: str, within_s: float = 30) -> None:
    def ok() -> bool:
        try:
            return bool(predict(up, model_id).status_code == 200)
        except requests.ConnectionError:
            return False

    eventually(ok, within_s, "a predict to succeed again")


def _restarted(up: Up, name: str, how: str) -> None:
    eventually(
        lambda: f"modelgate up: {name} exited ({how}); restarting it in 0.5 s" in up.text(),
        10,
        f"the restart line of {name}",
    )


def _assert_everything_serves(up: Up) -> None:
    ml, data = up.find("--role ml"), up.find("--role data")
    # Announced only once both nodes were in the node table, and the API answered.
    assert {ml.pid, data.pid} <= up.live_node_pids()
    assert up.answers()
    assert requests.get(f"http://{_mock_host(up)}/health", timeout=5).status_code == 200
    assert len([p for p in up.remember() if "valkey-server" in " ".join(p.cmdline())]) == 2
    assert (up.tmp / "redis" / "appendonlydir").is_dir()
    records = redis.Redis.from_url(up.redis_url(), decode_responses=True)
    assert records.config_get("appendfsync") == {"appendfsync": "always"}
    queues = redis.Redis.from_url(up.redis_url("embedded memory-only"), decode_responses=True)
    assert queues.config_get("appendonly") == {"appendonly": "no"}


def test_ready_means_serving_and_a_crash_restarts_the_process(up: Up) -> None:
    up.wait_ready()
    _assert_everything_serves(up)
    model_id = deploy_model(up, _mock_host(up))
    assert predict(up, model_id).status_code == 200

    old_ml = up.find("--role ml")
    kill9(old_ml)
    _restarted(up, "the ML node ml-1", "killed by SIGKILL")

    def new_ml_node() -> bool:
        ml = up.maybe("--role ml")
        return ml is not None and ml.pid in up.live_node_pids()

    eventually(new_ml_node, 30, "the new ML node in the node table")
    _predicts_again(up, model_id)

    kill9(up.find("valkey-server 127.0.0.1:" + up.redis_url().split(":")[2].split("/")[0]))
    _restarted(up, "the records Redis", "killed by SIGKILL")
    # The records came back from the append-only file: the model is still there, deployed.
    _predicts_again(up, model_id)
    model = json_of(requests.get(up.url + f"/_plugins/_ml/models/{model_id}", timeout=5))
    assert model["model_state"] == "DEPLOYED"

    api = up.find("tools.cli api")
    api_worker = next(p for p in api.children())
    kill9(api)
    _restarted(up, "the API", "killed by SIGKILL")
    eventually(lambda: not api_worker.is_running(), 5, "the old API worker to die with it")
    _predicts_again(up, model_id)

    assert up.process.poll() is None
    took = up.stop(signal.SIGINT)
    print(f"stack after restarts: Ctrl-C stopped it in {took:.2f} s")
    assert took < STOP_BOUND_S


def test_a_crash_loop_stops_the_stack_with_one_line(tmp_path: Path) -> None:
    up = Up(tmp_path, "--max-restarts", "1", "--data-workers", "0")
    try:
        up.wait_ready()
        kill9(up.find("--role ml"))
        _restarted(up, "the ML node ml-1", "killed by SIGKILL")
        kill9(eventually(lambda: up.maybe("--role ml"), 10, "the restarted ML node"))
        assert up.process.wait(30) == 1
        assert up.text().count("modelgate up:") == 2
        assert (
            "modelgate up: the ML node ml-1 exited 2 times within 60 s (last: killed by SIGKILL);"
            " stopping the stack"
        ) in up.text()
        up.assert_all_gone()
    finally:
        up.cleanup()

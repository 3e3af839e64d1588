"""Stopping `modelgate up`: quick when idle, an answer for the predict in flight, no orphans."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.cluster import MockUpstream
from tests.integration.up_stack import STOP_BOUND_S, Up, deploy_model, predict

LATENCY_S = 2.0


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    stack = Up(tmp_path)
    yield stack
    stack.cleanup()


@pytest.fixture
def slow_mock(tmp_path: Path) -> Iterator[MockUpstream]:
    upstream = MockUpstream(tmp_path, "--latency-ms", str(int(LATENCY_S * 1000)))
    yield upstream
    upstream.stop()


def test_an_idle_stack_stops_within_the_bound(up: Up) -> None:
    # Also measured at the end of test_up.py (Ctrl-C) and test_up_readme.py (SIGTERM).
    up.wait_ready()
    took = up.stop(signal.SIGINT)
    print(f"idle stack: Ctrl-C stopped it in {took:.2f} s")
    assert took < STOP_BOUND_S


def test_the_predict_in_flight_gets_its_answer(up: Up, slow_mock: MockUpstream) -> None:
    up.wait_ready()
    model_id = deploy_model(up, slow_mock.host)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        began = time.monotonic()
        in_flight = pool.submit(predict, up, model_id, 60)
        time.sleep(LATENCY_S / 2)  # the upstream holds it now
        assert not in_flight.done()
        took = up.stop(signal.SIGTERM)
        response = in_flight.result()
    assert response.status_code == 200, response.text
    assert response.json()["inference_results"]
    assert time.monotonic() - began < LATENCY_S + STOP_BOUND_S
    assert took < LATENCY_S + STOP_BOUND_S


def test_nothing_outlives_a_killed_stack(up: Up) -> None:
    up.wait_ready()
    family = up.remember()
    # Redis (2), the API server and its worker, two nodes.
    assert len(family) >= 6, [p.cmdline() for p in family]
    os.kill(up.process.pid, signal.SIGKILL)
    up.process.wait(5)
    up.assert_all_gone(within_s=5)
    with pytest.raises(requests.ConnectionError):
        requests.get(up.url + "/", timeout=2)

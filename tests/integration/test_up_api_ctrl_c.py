"""A standalone `modelgate api` stops at once on Ctrl-C, even right after it started serving
(one worker may still be loading the app then)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import requests

from tests.integration.cluster import wait_for
from tests.integration.up_stack import STOP_BOUND_S
from tools import processes
from tools.cli import PROJECT_ROOT, command
from tools.embedded_redis import EmbeddedRedis, free_port


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.mark.parametrize("run", range(3))
def test_ctrl_c_stops_the_api_and_its_workers_at_once(
    redis_server: EmbeddedRedis, tmp_path: Path, run: int
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    env.update(MODELGATE_REDIS_URL=redis_server.url, MODELGATE_PORT=str(port))
    env.update(MODELGATE_KEY_PREFIX=f"ctrlc{run}", MODELGATE_API_WORKERS="2")
    with open(tmp_path / "api.log", "wb") as log:
        api = processes.spawn(
            command("api"),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            new_session=True,  # a terminal of its own: the group signal is a Ctrl-C
            dies_with_parent=True,
        )
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/"), 60, "the API to answer")
        family = psutil.Process(api.pid).children(recursive=True)
        assert len(family) == 2
        began = time.monotonic()
        os.killpg(api.pid, signal.SIGINT)
        api.wait(80)
        took = time.monotonic() - began
        print(f"run {run}: modelgate api stopped in {took:.2f} s")
        assert took < STOP_BOUND_S
        time.sleep(0.2)
        assert not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    finally:
        processes.stop(api, sig=signal.SIGKILL)

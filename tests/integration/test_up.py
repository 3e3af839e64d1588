"""`modelgate up` starts Redis, the API and both node roles; Ctrl-C stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import redis
import requests

from tests.integration.cluster import wait_for
from tools import processes
from tools.cli import PROJECT_ROOT, command
from tools.embedded_redis import free_port


def test_up_runs_everything_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    env.update(MODELGATE_PORT=str(port), MODELGATE_DATA_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        up = processes.spawn(
            command("up"),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            new_session=True,
        )
    try:
        wait_for(
            lambda: "modelgate is ready" in log.read_text(errors="replace"),
            60,
            "modelgate up to announce readiness",
        )
        root = requests.get(f"http://127.0.0.1:{port}/", timeout=5).json()
        assert root["version"]["distribution"] == "opensearch"
        family = psutil.Process(up.pid).children(recursive=True)
        commands = [" ".join(p.cmdline()) for p in family]
        assert any("valkey-server" in c for c in commands)
        assert any("worker --role ml" in c for c in commands)
        assert any("worker --role data" in c for c in commands)
        assert (tmp_path / "redis" / "appendonlydir").is_dir()
        port_line = next(line for line in log.read_text().splitlines() if "embedded Redis" in line)
        redis_url = port_line.split()[3]
        fsync = redis.Redis.from_url(redis_url, decode_responses=True).config_get("appendfsync")
        assert fsync == {"appendfsync": "always"}
        os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        assert up.wait(30) == 0
        deadline = time.monotonic() + 10
        while any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in family):
            assert time.monotonic() < deadline, "processes outlived modelgate up"
            time.sleep(0.1)
    finally:
        if up.poll() is None:  # the test failed midway: leave nothing running
            leftovers = psutil.Process(up.pid).children(recursive=True)
            processes.stop(up, sig=signal.SIGKILL)
            for process in leftovers:  # Redis runs in a session of its own
                if process.is_running():
                    process.kill()

"""`modelgate up` as the tests run it: its own session, a free port, a throw-away data dir."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import redis
import requests

from common.records import Node
from common.store import Store
from tests.integration.cluster import LOOPBACK_TRUSTED, connector_body, wait_for
from tools import processes
from tools.cli import PROJECT_ROOT, command
from tools.embedded_redis import free_port, read_password

READY_TIMEOUT_S = 90
STOP_BOUND_S = 5.0

# Small and quick: one API worker; nodes noticed dead within 2.5 s.
QUICK = {"MODELGATE_API_WORKERS": "1", "MODELGATE_HEARTBEAT_INTERVAL": "0.5"}


def up_env(tmp: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a test's `modelgate up`: embedded Redis, its own port and data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    env.update(MODELGATE_PORT=str(port), MODELGATE_DATA_DIR=str(tmp), PYTHONUNBUFFERED="1")
    env.update(QUICK)
    env.update(extra)
    return env


class Up:
    """One `modelgate up` run by a test; whatever happens, nothing of it outlives the test."""

    def __init__(self, tmp: Path, *flags: str, cmd: list[str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp
        self.log = tmp / f"up-{self.port}.log"
        with open(self.log, "wb") as out:
            self.process = processes.spawn(
                cmd or command("up", *flags),
                cwd=PROJECT_ROOT,
                env=up_env(tmp, self.port),
                stdout=out,
                stderr=subprocess.STDOUT,
                new_session=True,  # a terminal of its own: a group signal is a Ctrl-C
                dies_with_parent=True,
            )
        self.seen: dict[int, psutil.Process] = {}

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        def ready() -> bool:
            assert self.process.poll() is None, f"modelgate up exited:\n{self.text()[-3000:]}"
            return "modelgate is ready" in self.text()

        wait_for(ready, READY_TIMEOUT_S, "modelgate up to announce readiness", interval=0.1)
        self.remember()

    def remember(self) -> list[psutil.Process]:
        """Record every descendant now running; return them."""
        family = psutil.Process(self.process.pid).children(recursive=True)
        self.seen.update((p.pid, p) for p in family)
        return family

    def find(self, fragment: str) -> psutil.Process:
        """The one running child of `modelgate up` whose command line contains fragment."""
        found = self.maybe(fragment)
        assert found is not None, f"no child runs {fragment!r}"
        return found

    def maybe(self, fragment: str) -> psutil.Process | None:
        """The running child whose command line contains fragment, if there is one."""
        self.remember()
        children = psutil.Process(self.process.pid).children()
        found = [p for p in children if fragment in " ".join(_cmdline(p)) and _alive(p)]
        assert len(found) <= 1, f"{fragment!r}: {[' '.join(_cmdline(p)) for p in found]}"
        return found[0] if found else None

    def redis_url(self, which: str = "embedded Redis on") -> str:
        line = next(x for x in self.text().splitlines() if x.startswith(which))
        url = next(word for word in line.split() if word.startswith("redis://"))
        # up prints no password; the server keeps it in its directory.
        server_dir = self.tmp / ("queues" if "memory-only" in which else "redis")
        return f"{url}?password={read_password(server_dir)}"

    def nodes(self) -> list[Node]:
        client = redis.Redis.from_url(self.redis_url(), decode_responses=True)
        try:
            return Store(client, "mg", queue=client).nodes.all()
        finally:
            client.close()

    def live_node_pids(self) -> set[int]:
        return {n.pid for n in self.nodes() if time.time() - n.last_seen < 2.5}

    def answers(self) -> bool:
        try:
            return requests.get(self.url + "/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self, sig: signal.Signals = signal.SIGINT) -> float:
        """Signal the stack as a terminal would; return how long it took to end, status 0."""
        self.remember()
        began = time.monotonic()
        os.killpg(self.process.pid, sig)
        code = self.process.wait(60)
        took = time.monotonic() - began
        assert code == 0, self.text()[-3000:]
        self.assert_all_gone()
        return took

    def assert_all_gone(self, within_s: float = 5.0) -> None:
        def gone() -> bool:
            return not [p for p in self.seen.values() if _alive(p)]

        wait_for(gone, within_s, f"every process of modelgate up to end: {self.seen}")

    def cleanup(self) -> None:
        with contextlib.suppress(psutil.Error):
            self.remember()
        if self.process.poll() is None:
            processes.stop(self.process, sig=signal.SIGKILL)
        for process in self.seen.values():
            with contextlib.suppress(psutil.Error):
                process.kill()


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill9(process: psutil.Process) -> None:
    process.kill()
    wait_for(lambda: not _alive(process), 5, f"{process.pid} to die")


def json_of(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    return wait_for(check, timeout, what, interval=0.1)


def deploy_model(up: Up, endpoint: str) -> str:
    """Create a chat connector to endpoint, register and deploy a model on it; its id."""
    settings = {
        "plugins.ml_commons.trusted_connector_endpoints_regex": [LOOPBACK_TRUSTED],
        "plugins.ml_commons.connector.private_ip_enabled": True,
    }
    json_of(requests.put(up.url + "/_cluster/settings", json={"persistent": settings}, timeout=10))
    body = connector_body(parameters={"endpoint": endpoint, "model": "gpt-3.5-turbo"})
    created = requests.post(up.url + "/_plugins/_ml/connectors/_create", json=body, timeout=10)
    register = {
        "name": "gpt",
        "function_name": "remote",
        "connector_id": json_of(created)["connector_id"],
    }
    answer = json_of(
        requests.post(
            up.url + "/_plugins/_ml/models/_register",
            params={"deploy": "true"},
            json=register,
            timeout=30,
        )
    )

    def deployed() -> bool:
        # The register task completes first; ?deploy=true then starts the deployment.
        url = up.url + f"/_plugins/_ml/models/{answer['model_id']}"
        state = json_of(requests.get(url, timeout=5))["model_state"]
        assert state != "DEPLOY_FAILED", state
        return bool(state == "DEPLOYED")

    eventually(deployed, 30, "the model to deploy")
    return str(answer["model_id"])


def predict(up: Up, model_id: str, timeout: float = 30) -> requests.Response:
    body = {"parameters": {"messages": [{"role": "user", "content": "Hello!"}]}}
    url = up.url + f"/_plugins/_ml/models/{model_id}/_predict"
    return requests.post(url, json=body, timeout=timeout)

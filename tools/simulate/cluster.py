"""A local cluster for one simulation: two memory-only Redis servers, the node-aware upstream,
the API and one process per node, each started the way `modelgate up` starts them.

Unlike `modelgate up` nothing is restarted: a node the simulation kills stays dead, which is
the point. Every process dies with the simulator (tools/processes.py, dies_with_parent).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import redis

from common.nodes import alive
from common.records import Node
from common.settings import PREFIX, Settings
from common.store import Store
from tools import processes
from tools.cli import PROJECT_ROOT, command
from tools.embedded_redis import EmbeddedRedis, free_port
from tools.simulate.spec import NodeSpec
from tools.simulate.upstream import NODE_VARIABLE, Profile

START_TIMEOUT_S = 60.0
POLL_S = 0.1
STOP_GRACE_S = 10.0


class StartError(RuntimeError):
    """A process of the simulated cluster did not come up."""


def _wait(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(POLL_S)
    raise StartError(f"{what} did not come up within {timeout_s:g} s")


@dataclass
class SimCluster:
    """The processes of one simulation, started by start() and ended by stop()."""

    workdir: Path
    nodes: tuple[NodeSpec, ...]
    heartbeat_s: float
    seed: int = 0
    settings: Settings = field(init=False)
    upstream: str = field(init=False, default="")
    _servers: list[EmbeddedRedis] = field(init=False, default_factory=list)
    _children: dict[str, processes.Child] = field(init=False, default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def start(self) -> None:
        """Start everything and wait until the API answers and every node beats."""
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        self.settings = self._start_redis()
        self.upstream = self._start_upstream()
        # The server stops its own workers: it alone gets the polite signal (relays).
        self._spawn("api", command("api"), self._env(), relays=True)
        _wait(self._api_answers, START_TIMEOUT_S, "the API")
        for node in self.nodes:
            cmd = command("worker", "--role", node.role, "--name", node.name)
            self._spawn(node.name, cmd, {**self._env(), NODE_VARIABLE: node.name})
        _wait(self._all_nodes_alive, START_TIMEOUT_S, "the nodes")

    def _start_redis(self) -> Settings:
        # Both memory-only: a simulation keeps nothing, and an fsync per write would slow it.
        records = EmbeddedRedis(self.workdir / "redis", persistent=False)
        queues = EmbeddedRedis(self.workdir / "queues", persistent=False)
        for server in (records, queues):
            server.start()
            self._servers.append(server)
        return Settings(
            redis_url=records.url,
            queue_redis_url=queues.url,
            data_dir=self.workdir / "data",
            port=free_port(),
            key_prefix="sim",
            heartbeat_interval_s=self.heartbeat_s,
            predict_timeout_s=30.0,
            api_workers=1,  # one round_robin rotation: the spread in the report is exact
            api_threads=64,
            worker_concurrency=64,
            metrics=False,
        )

    def _start_upstream(self) -> str:
        port_file = self.workdir / "upstream.port"
        profiles = {n.name: asdict(Profile(n.latency_ms, n.failure_rate)) for n in self.nodes}
        cmd = [sys.executable, "-m", "tools.simulate.upstream", "--port-file", str(port_file)]
        cmd += ["--profiles", json.dumps(profiles), "--seed", str(self.seed)]
        self._spawn("upstream", cmd, None)
        _wait(port_file.exists, START_TIMEOUT_S, "the upstream")
        return f"127.0.0.1:{port_file.read_text().strip()}"

    def _env(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
        return {**inherited, **self.settings.to_env(), "PYTHONUNBUFFERED": "1"}

    def _spawn(
        self, name: str, cmd: list[str], env: dict[str, str] | None, relays: bool = False
    ) -> None:
        with open(self.workdir / "logs" / f"{name}.log", "ab") as log:
            self._children[name] = processes.spawn(
                cmd,
                env=env,
                cwd=PROJECT_ROOT,
                new_group=True,
                relays=relays,
                dies_with_parent=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _api_answers(self) -> bool:
        # No proxies: one from the environment must not answer for a loopback address.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(self.api + "/", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def store(self) -> Store:
        """A store handle on the cluster's two Redis servers (the caller closes nothing)."""
        return Store(
            redis.Redis.from_url(self.settings.require_redis_url(), decode_responses=True),
            self.settings.key_prefix,
            queue=redis.Redis.from_url(
                self.settings.require_queue_redis_url(), decode_responses=True
            ),
        )

    def live_nodes(self, store: Store) -> list[Node]:
        return alive(store.nodes.all(), self.settings.node_ttl_s)

    def _all_nodes_alive(self) -> bool:
        names = {node.name for node in self.live_nodes(self.store())}
        return names >= {node.name for node in self.nodes}

    def kill(self, name: str) -> None:
        """SIGKILL a node: no goodbye, no leaving the node table, as a crash or power loss."""
        processes.stop(self._children.pop(name), sig=signal.SIGKILL)

    def stop(self) -> None:
        """Stop the API and nodes, then the upstream and Redis."""
        children = list(self._children.values())
        processes.stop(*children, sig=signal.SIGTERM, grace_s=STOP_GRACE_S)
        self._children.clear()
        for server in self._servers:
            server.stop()

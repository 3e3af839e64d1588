"""Real processes for integration tests: Redis, the mock upstream, the API and worker nodes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests

from common.settings import Settings
from common.store import Store
from tools import processes
from tools.cli import PROJECT_ROOT, command
from tools.embedded_redis import free_port

LOOPBACK_TRUSTED = r"^http://127\.0\.0\.1:.*$"


def _env(settings: Settings) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    return {**inherited, **settings.to_env(), "PYTHONUNBUFFERED": "1"}


def wait_for(check: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll check() until it returns something truthy; fail with `what` after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class MockUpstream:
    """`modelgate mock-upstream` as a subprocess on a free port."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        port_file = tmp / f"mock-{time.monotonic_ns()}.port"
        cmd = command("mock-upstream", "--port", "0", "--port-file", str(port_file), *extra)
        self.process = processes.spawn(
            cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, dies_with_parent=True
        )
        wait_for(port_file.exists, 20, "mock upstream port file")
        self.port = int(wait_for(lambda: port_file.read_text().strip(), 5, "mock port"))
        self.base = f"http://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        processes.stop(self.process, grace_s=10)


@dataclass
class Node:
    name: str
    role: str
    process: processes.Child
    log: Path


@dataclass
class Cluster:
    """One isolated modelgate cluster (its own key prefix) on a shared Redis server."""

    settings: Settings
    tmp: Path
    api_process: processes.Child | None = None
    nodes: dict[str, Node] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        redis_url: str,
        tmp: Path,
        prefix: str,
        queue_redis_url: str | None = None,
        broker_url: str | None = None,
    ) -> Cluster:
        settings = Settings(
            redis_url=redis_url,
            queue_redis_url=queue_redis_url,
            broker_url=broker_url,  # None: Celery's jobs go through the records' Redis
            key_prefix=prefix,
            port=free_port(),
            data_dir=tmp,
            heartbeat_interval_s=0.5,
            visibility_timeout_s=3,
            restore_interval_s=1,
            worker_concurrency=4,
            api_workers=1,
            api_threads=16,
            predict_timeout_s=20,
        )
        return cls(settings=settings, tmp=tmp)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def store(self) -> Store:
        return Store(
            redis.Redis.from_url(self.settings.require_redis_url(), decode_responses=True),
            self.settings.key_prefix,
            queue=redis.Redis.from_url(
                self.settings.require_queue_redis_url(), decode_responses=True
            ),
        )

    def start_api(self) -> None:
        with open(self.tmp / f"api-{self.settings.key_prefix}.log", "ab") as log:
            self.api_process = processes.spawn(
                command("api"),
                dies_with_parent=True,
                cwd=PROJECT_ROOT,
                env=_env(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._api_up, 30, "the API to answer GET /")

    def _api_up(self) -> bool:
        try:
            return requests.get(self.url + "/", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def start_node(self, role: str, name: str, *extra: str) -> str:
        """Start a worker node and wait until its heartbeat shows it alive; return its id."""
        log_path = self.tmp / f"{self.settings.key_prefix}-{name}.log"
        cmd = command("worker", "--role", role, "--name", name, "--loglevel", "WARNING", *extra)
        with open(log_path, "ab") as log:
            process = processes.spawn(
                cmd,
                cwd=PROJECT_ROOT,
                env=_env(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                dies_with_parent=True,  # a killed pytest run leaves no node behind
            )
        self.nodes[name] = Node(name, role, process, log_path)
        return str(wait_for(lambda: self.node_id(name), 30, f"node {name} heartbeat"))

    def start_beat(self) -> processes.Child:
        """Start a `modelgate beat` for this cluster; the caller stops it."""
        with open(self.tmp / f"{self.settings.key_prefix}-beat.log", "ab") as log:
            return processes.spawn(
                command("beat"),
                dies_with_parent=True,
                cwd=PROJECT_ROOT,
                env=_env(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def node_id(self, name: str) -> str | None:
        for node in self.store.nodes.all():
            if node.name == name and time.time() - node.last_seen < 2:
                return node.id
        return None

    def kill_node(self, name: str) -> None:
        processes.stop(self.nodes.pop(name).process, sig=signal.SIGKILL)

    def stop_node(self, name: str) -> None:
        """Stop a node gracefully (SIGTERM): it leaves the node table."""
        processes.stop(self.nodes.pop(name).process, grace_s=20)

    def stop(self) -> None:
        children = [n.process for n in self.nodes.values()]
        if self.api_process is not None:
            children.append(self.api_process)
        processes.stop(*children, grace_s=20)
        self.nodes.clear()

    # HTTP helpers -------------------------------------------------------------------------------
    def call(self, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
        return requests.request(method, self.url + path, json=body, params=params, timeout=30)

    def ok(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        response = self.call(method, path, body, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def set_settings(self, **values: Any) -> None:
        flat = {f"plugins.ml_commons.{k.replace('__', '.')}": v for k, v in values.items()}
        self.ok("PUT", "/_cluster/settings", {"persistent": flat})

    def task(self, task_id: str, *, until: tuple[str, ...] = ("COMPLETED", "FAILED")) -> Any:
        def done() -> Any:
            task = self.ok("GET", f"/_plugins/_ml/tasks/{task_id}")
            return task if task["state"] in until or task["state"] == "FAILED" else None

        return wait_for(done, 20, f"task {task_id} to reach {until}")

    def create_connector(self, **overrides: Any) -> str:
        return str(
            self.ok("POST", "/_plugins/_ml/connectors/_create", connector_body(**overrides))[
                "connector_id"
            ]
        )

    def register(self, connector_id: str, name: str, *, deploy: bool = False) -> str:
        body = {"name": name, "function_name": "remote", "connector_id": connector_id}
        params = {"deploy": "true"} if deploy else {}
        answer = self.ok("POST", "/_plugins/_ml/models/_register", body, **params)
        assert self.task(answer["task_id"])["state"] == "COMPLETED"
        return str(answer["model_id"])

    def deploy(self, model_id: str) -> Any:
        answer = self.ok("POST", f"/_plugins/_ml/models/{model_id}/_deploy")
        return self.task(answer["task_id"], until=("COMPLETED", "COMPLETED_WITH_ERROR"))

    def predict(self, model_id: str, parameters: dict[str, Any]) -> requests.Response:
        return self.call(
            "POST", f"/_plugins/_ml/models/{model_id}/_predict", {"parameters": parameters}
        )


def connector_body(**overrides: Any) -> dict[str, Any]:
    """An OpenAI chat connector pointed at the mock upstream (host:port in parameters.endpoint)."""
    body: dict[str, Any] = {
        "name": "OpenAI Chat Connector",
        "description": "The connector to the mock OpenAI service",
        "version": 1,
        "protocol": "http",
        "parameters": {"endpoint": "127.0.0.1:1", "model": "gpt-3.5-turbo"},
        "credential": {"openAI_key": "sk-test-secret-value"},
        "actions": [
            {
                "action_type": "predict",
                "method": "POST",
                "url": "http://${parameters.endpoint}/v1/chat/completions",
                "headers": {"Authorization": "Bearer ${credential.openAI_key}"},
                "request_body": (
                    '{ "model": "${parameters.model}", "messages": ${parameters.messages} }'
                ),
            }
        ],
    }
    body.update(overrides)
    return body

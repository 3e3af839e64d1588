"""Many hosts: Redis, the API, two ML nodes and a data node each on an address of its own.

Five network namespaces joined by a bridge stand for five machines. The seed walkthrough
runs across them; then one ML host's cable is pulled under predict load. Its in-flight
predicts must end within the predict deadline, new predicts must go to the other ML node
once the cut node's heartbeat has expired, and the node must rejoin when the cable is back.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from common.crypto import new_master_key
from tests.integration.cluster import connector_body, wait_for
from tests.integration.netns import Host, Network, namespaces_refused
from tools import processes
from tools.cli import PROJECT_ROOT, command
from tools.embedded_redis import server_binary

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="network namespaces need root (CAP_NET_ADMIN)"
)
HOSTS = ("redis", "api", "ml1", "ml2", "data")
API_PORT = 9200
REDIS_PORT = 6379
PREDICT_TIMEOUT_S = 4
HEARTBEAT_S = 0.5
NODE_TTL_S = HEARTBEAT_S * 3 + 1  # Settings.node_ttl_s for this heartbeat
NODE_NAMES = {"ml1": "ml-1", "ml2": "ml-2", "data": "data-1"}


@dataclass
class Deployment:
    """The five-host cluster, seen from the test's own namespace."""

    network: Network
    api: str
    mock: str
    children: dict[str, processes.Child]
    logs: Path

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(method, self.api + path, json=body, timeout=30)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.call(method, path, body)
        assert answer.status_code == 200, (path, answer.text)
        return answer.json()

    def host(self, name: str) -> Host:
        return self.network.hosts[name]


def _environment(network: Network, data_dir: Path, master_key: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    redis_url = f"redis://{network.hosts['redis'].address}:{REDIS_PORT}/0"
    return {
        **inherited,
        "PYTHONUNBUFFERED": "1",
        "MODELGATE_REDIS_URL": redis_url,
        "MODELGATE_DATA_DIR": str(data_dir),
        # Hosts share no disk: the key comes from the environment, as from a secrets manager.
        "MODELGATE_MASTER_KEY": master_key,
        "MODELGATE_PREDICT_TIMEOUT": str(PREDICT_TIMEOUT_S),
        "MODELGATE_HEARTBEAT_INTERVAL": str(HEARTBEAT_S),
        "MODELGATE_VISIBILITY_TIMEOUT": "3",
        "MODELGATE_RESTORE_INTERVAL": "1",
    }


def _start(host: Host, cmd: list[str], env: dict[str, str], log: Path) -> processes.Child:
    with open(log, "ab") as out:
        return processes.spawn(
            host.command(cmd),
            env=env,
            cwd=PROJECT_ROOT,
            dies_with_parent=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _start_redis(host: Host, data_dir: Path, log: Path) -> processes.Child:
    data_dir.mkdir(parents=True)
    cmd = [
        str(server_binary()),
        *("--bind", host.address, "--port", str(REDIS_PORT), "--protected-mode", "no"),
        *("--appendonly", "yes", "--save", "", "--dir", str(data_dir)),
    ]
    return _start(host, cmd, dict(os.environ), log)


def _start_mock(network: Network, tmp: Path) -> tuple[processes.Child, str]:
    port_file = tmp / "mock.port"
    cmd = command("mock-upstream", "--host", network.gateway, "--port", "0")
    child = processes.spawn(
        [*cmd, "--port-file", str(port_file)],
        cwd=PROJECT_ROOT,
        dies_with_parent=True,
        stdout=subprocess.DEVNULL,
    )
    wait_for(lambda: port_file.exists() and port_file.read_text().strip(), 20, "mock port")
    return child, f"{network.gateway}:{port_file.read_text().strip()}"


def _api_answers(api: str) -> bool:
    try:
        return requests.get(api + "/", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    refused = namespaces_refused()
    if refused:
        pytest.skip(refused)
    tmp = tmp_path_factory.mktemp("hosts")
    network = Network()
    children: dict[str, processes.Child] = {}
    try:
        network.create(HOSTS)
        yield _bring_up(network, tmp, children)
    finally:
        # Stopped side by side: each worker's warm shutdown takes its own seconds.
        with ThreadPoolExecutor(max_workers=len(children) or 1) as pool:
            list(pool.map(lambda child: processes.stop(child, grace_s=5), children.values()))
        network.remove()


def _bring_up(network: Network, tmp: Path, children: dict[str, processes.Child]) -> Deployment:
    hosts = network.hosts
    children["redis"] = _start_redis(hosts["redis"], tmp / "redis", tmp / "redis.log")
    children["mock"], mock = _start_mock(network, tmp)
    key = new_master_key()
    api_env = {
        **_environment(network, tmp / "api", key),
        "MODELGATE_HOST": hosts["api"].address,
        "MODELGATE_PORT": str(API_PORT),
        "MODELGATE_SECURITY": "off",
        "MODELGATE_SECURITY_DISABLED_ON_PUBLIC_ADDRESS_I_UNDERSTAND": "on",
    }
    children["api"] = _start(hosts["api"], command("api"), api_env, tmp / "api.log")
    for host_name, node_name in NODE_NAMES.items():
        role = "data" if host_name == "data" else "ml"
        cmd = command("worker", "--role", role, "--name", node_name, "--loglevel", "WARNING")
        env = _environment(network, tmp / host_name, key)
        children[host_name] = _start(hosts[host_name], cmd, env, tmp / f"{host_name}.log")
    api = f"http://{hosts['api'].address}:{API_PORT}"
    wait_for(lambda: _api_answers(api), 60, "the API on its own host")
    return Deployment(network, api, mock, children, tmp)


def _nodes_alive(deployment: Deployment) -> set[str]:
    stats = deployment.ok("GET", "/_plugins/_ml/stats")
    return set(stats.get("nodes", {}))


def _walkthrough(deployment: Deployment) -> str:
    """The seed walkthrough: settings, connector, group, register, deploy; the model id."""
    trusted = r"^http://10\.77\.\d+\.\d+:\d+/.*$"
    deployment.ok(
        "PUT",
        "/_cluster/settings",
        {
            "persistent": {
                "plugins.ml_commons.trusted_connector_endpoints_regex": [trusted],
                "plugins.ml_commons.connector.private_ip_enabled": True,
            }
        },
    )
    body = connector_body()
    body["parameters"]["endpoint"] = deployment.mock
    connector = deployment.ok("POST", "/_plugins/_ml/connectors/_create", body)["connector_id"]
    group = deployment.ok(
        "POST", "/_plugins/_ml/model_groups/_register", {"name": f"hosts-{time.time_ns()}"}
    )["model_group_id"]
    register = {
        "name": "chat across hosts",
        "function_name": "remote",
        "model_group_id": group,
        "connector_id": connector,
    }
    model_id = str(deployment.ok("POST", "/_plugins/_ml/models/_register", register)["model_id"])
    task = deployment.ok("POST", f"/_plugins/_ml/models/{model_id}/_deploy")["task_id"]
    wait_for(
        lambda: deployment.ok("GET", f"/_plugins/_ml/tasks/{task}")["state"] == "COMPLETED",
        30,
        "the deploy task",
    )
    return model_id


MESSAGES = [{"role": "user", "content": "hello across hosts"}]


@dataclass
class Outcome:
    started: float
    ended: float
    status: int
    node: str


def _predict(deployment: Deployment, model_id: str) -> Outcome:
    started = time.monotonic()
    try:
        answer = requests.post(
            f"{deployment.api}/_plugins/_ml/models/{model_id}/_predict",
            json={"parameters": {"messages": MESSAGES}},
            timeout=PREDICT_TIMEOUT_S + 10,
        )
        status, node = answer.status_code, answer.headers.get("X-Modelgate-Node-Name", "")
    except requests.RequestException:
        status, node = 0, ""
    return Outcome(started, time.monotonic(), status, node)


def _load(deployment: Deployment, model_id: str, stop: threading.Event) -> list[Outcome]:
    """Four clients predicting back to back until stop is set; every outcome, in order."""
    outcomes: list[Outcome] = []

    def client() -> None:
        while not stop.is_set():
            outcomes.append(_predict(deployment, model_id))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join()
    return outcomes


def test_walkthrough_cut_and_rejoin_across_five_hosts(deployment: Deployment) -> None:
    wait_for(lambda: len(_nodes_alive(deployment)) == 3, 60, "three nodes on three hosts")
    model_id = _walkthrough(deployment)
    served = {_predict(deployment, model_id).node for _ in range(30)}
    assert served == {"ml-1", "ml-2"}  # only_run_on_ml_node (the default): no data node

    stop = threading.Event()
    results: list[list[Outcome]] = []
    loader = threading.Thread(target=lambda: results.append(_load(deployment, model_id, stop)))
    loader.start()
    time.sleep(1)
    cut_at = time.monotonic()
    deployment.host("ml1").cut()
    time.sleep(max(PREDICT_TIMEOUT_S, NODE_TTL_S + 2) + 1)
    stop.set()
    loader.join()
    outcomes = results[0]

    # In flight at the cut: each ended (any answer) within the predict deadline.
    in_flight = [o for o in outcomes if o.started < cut_at < o.ended]
    assert all(o.ended - o.started <= PREDICT_TIMEOUT_S + 2 for o in in_flight), in_flight
    # Sent a heartbeat after the cut: all answered, by the other ML node.
    later = [o for o in outcomes if o.started > cut_at + HEARTBEAT_S]
    assert later and all(o.status == 200 and o.node == "ml-2" for o in later), later[:5]

    deployment.host("ml1").restore()
    wait_for(lambda: len(_nodes_alive(deployment)) == 3, 30, "the cut node to rejoin")
    wait_for(
        lambda: _predict(deployment, model_id).node == "ml-1", 30, "ml-1 serving predicts again"
    )

"""Flower, started against the test cluster's broker, shows register, deploy and undeploy jobs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.cluster import Cluster, MockUpstream, wait_for
from tools import processes
from tools.cli import PROJECT_ROOT
from tools.embedded_redis import free_port

JOBS = ("mg.register_model", "mg.deploy_model", "mg.undeploy_model")


@pytest.fixture
def flower(gw: Cluster, tmp_path: Path) -> Iterator[str]:
    """`celery -A workers.celery_app flower` as the README starts it; its base URL."""
    port = free_port()
    celery = str(Path(sys.executable).with_name("celery"))
    cmd = [celery, "-A", "workers.celery_app", "flower", "--address=127.0.0.1", f"--port={port}"]
    cmd.append(f"--broker={gw.settings.require_broker_url()}")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    env = {**inherited, **gw.settings.to_env(), "FLOWER_UNAUTHENTICATED_API": "true"}
    with open(tmp_path / "flower.log", "wb") as log:
        process = processes.spawn(
            cmd,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            dies_with_parent=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        # Flower knows a node once an event of it arrived: jobs run from then on are seen.
        wait_for(lambda: _sees_node(base, "ml-1"), 30, "flower to receive the ML node's events")
        yield base
    finally:
        processes.stop(process, grace_s=10)


def _sees_node(base: str, name: str) -> bool:
    try:
        workers = requests.get(f"{base}/workers", params={"json": 1}, timeout=5)
    except requests.ConnectionError:
        return False
    return workers.ok and any(name in w["hostname"] for w in workers.json()["data"])


def _jobs_of(base: str, model_id: str) -> dict[str, dict[str, Any]] | None:
    """The model's lifecycle jobs as flower's API lists them, once all three succeeded."""
    tasks = requests.get(f"{base}/api/tasks", timeout=5).json()
    found = {t["name"]: t for t in tasks.values() if model_id in str(t.get("args"))}
    done = all(found.get(name, {}).get("state") == "SUCCESS" for name in JOBS)
    return found if done else None


def test_flower_shows_register_deploy_and_undeploy(
    gw: Cluster, mock: MockUpstream, flower: str
) -> None:
    upstream = {"endpoint": mock.host, "model": "gpt-3.5-turbo"}
    model_id = gw.register(gw.create_connector(parameters=upstream), "flower-model")
    assert gw.deploy(model_id)["state"] == "COMPLETED"
    gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_undeploy")
    jobs = wait_for(lambda: _jobs_of(flower, model_id), 20, "flower to list the three jobs")
    ml = gw.node_id("ml-1")
    assert ml
    for name in JOBS:
        assert jobs[name]["worker"].startswith("ml-1@"), jobs[name]
    # The register job's message names the model, never the connector's credential.
    assert "sk-test-secret-value" not in str(jobs)

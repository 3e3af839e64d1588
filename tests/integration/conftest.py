"""Session fixtures: an embedded Redis, mock upstreams, a cluster with an ML and a data node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cluster import LOOPBACK_TRUSTED, Cluster, MockUpstream
from tools.embedded_redis import EmbeddedRedis


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("modelgate")


@pytest.fixture(scope="session")
def redis_server(tmp_root: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_root / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def queue_server(tmp_root: Path) -> Iterator[EmbeddedRedis]:
    """The memory-only server for predict queues and replies, as `modelgate up` runs one."""
    server = EmbeddedRedis(tmp_root / "queues", persistent=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mock(tmp_root: Path) -> Iterator[MockUpstream]:
    upstream = MockUpstream(tmp_root)
    yield upstream
    upstream.stop()


@pytest.fixture(scope="session")
def slow_mock(tmp_root: Path) -> Iterator[MockUpstream]:
    upstream = MockUpstream(tmp_root, "--latency-ms", "150")
    yield upstream
    upstream.stop()


@pytest.fixture(scope="session")
def cluster(
    redis_server: EmbeddedRedis, queue_server: EmbeddedRedis, tmp_root: Path
) -> Iterator[Cluster]:
    running = Cluster.create(redis_server.url, tmp_root, "it", queue_server.url)
    try:
        running.start_api()
        running.start_node("ml", "ml-1")
        running.start_node("data", "data-1")
        yield running
    finally:
        running.stop()


@pytest.fixture
def gw(cluster: Cluster) -> Cluster:
    """The shared cluster with settings reset to: loopback trusted, private IPs allowed."""
    cluster.ok(
        "PUT",
        "/_cluster/settings",
        {
            "persistent": {
                "plugins.ml_commons.trusted_connector_endpoints_regex": [LOOPBACK_TRUSTED],
                "plugins.ml_commons.connector.private_ip_enabled": True,
                "plugins.ml_commons.only_run_on_ml_node": None,
                "plugins.ml_commons.model_auto_deploy.enable": None,
                "plugins.ml_commons.remote_inference.enabled": None,
            },
            "transient": {"plugins.ml_commons.only_run_on_ml_node": None},
        },
    )
    return cluster

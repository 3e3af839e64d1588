"""Session fixtures: an embedded Redis, mock upstreams, a cluster with an ML and a data node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cluster import LOOPBACK_TRUSTED, Cluster, MockUpstream
from tests.integration.rabbitmq import Vhost
from tests.integration.rabbitmq import answers as rabbitmq_answers
from tests.integration.rabbitmq import ctl_available as rabbitmqctl_available
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
    return _reset_settings(cluster)


def _reset_settings(cluster: Cluster) -> Cluster:
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


@pytest.fixture(scope="session")
def rabbitmq_vhost() -> Iterator[Vhost]:
    """A vhost of this session's own on the local RabbitMQ, deleted at the end."""
    if not rabbitmq_answers():
        pytest.skip("no RabbitMQ answers on 127.0.0.1:5672 (guest/guest)")
    if not rabbitmqctl_available():
        pytest.skip("RabbitMQ answers, but without rabbitmqctl this run gets no vhost of its own")
    vhost = Vhost.create()
    yield vhost
    vhost.delete()


@pytest.fixture(scope="session")
def rabbit_cluster(
    redis_server: EmbeddedRedis, queue_server: EmbeddedRedis, rabbitmq_vhost: Vhost, tmp_root: Path
) -> Iterator[Cluster]:
    """`cluster` again (an ML and a data node), with Celery's jobs on RabbitMQ quorum queues.

    Built only when a test asks for it; records and predicts stay on the session's Redis.
    """
    running = Cluster.create(
        redis_server.url, tmp_root, "itmq", queue_server.url, broker_url=rabbitmq_vhost.url
    )
    try:
        running.start_api()
        running.start_node("ml", "ml-1")
        running.start_node("data", "data-1")
        yield running
    finally:
        running.stop()


BROKER_CLUSTERS = {"redis": "cluster", "rabbitmq": "rabbit_cluster"}


@pytest.fixture
def broker_gw(request: pytest.FixtureRequest) -> Cluster:
    """`gw` on the broker a test names with indirect parametrization: "redis" (the default,
    the shared cluster) or "rabbitmq" (rabbit_cluster)."""
    broker = getattr(request, "param", "redis")
    return _reset_settings(request.getfixturevalue(BROKER_CLUSTERS[broker]))

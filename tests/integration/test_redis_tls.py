"""Your own Redis: MODELGATE_REDIS_URL carries its password, and rediss:// speaks TLS to it;
the master key comes from MODELGATE_MASTER_KEY, as a secrets manager would give it.

The embedded valkey-server is built without TLS, so the TLS end is a relay in front of it
(tests/integration/tls_proxy.py): every byte the cluster exchanges with Redis is encrypted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from common.crypto import CredentialCipher, key_id, new_master_key
from common.settings import Settings
from common.store import Store, connect
from tests.integration.cluster import LOOPBACK_TRUSTED, Cluster, MockUpstream
from tests.integration.tls_proxy import TlsProxy, self_signed
from tools.embedded_redis import EmbeddedRedis, read_password


@pytest.fixture
def tls_url(redis_server: EmbeddedRedis, tmp_path: Path) -> Iterator[str]:
    cert, key = self_signed(tmp_path)
    proxy = TlsProxy(redis_server.port, cert, key)
    password = read_password(redis_server.data_dir)
    query = f"ssl_cert_reqs=required&ssl_ca_certs={cert}"
    yield f"rediss://default:{password}@127.0.0.1:{proxy.port}/0?{query}"
    proxy.close()


def test_a_cluster_on_rediss_with_its_key_from_the_environment_serves_predicts(
    tls_url: str,
    redis_server: EmbeddedRedis,
    queue_server: EmbeddedRedis,
    mock: MockUpstream,
    tmp_path: Path,
) -> None:
    assert Settings.from_env({"MODELGATE_REDIS_URL": tls_url}).redis_url == tls_url
    untrusted = tls_url.partition("&ssl_ca_certs")[0]
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        redis.Redis.from_url(untrusted, retry=None).ping()

    cluster = Cluster.create(tls_url, tmp_path, f"tls{uuid.uuid4().hex[:4]}", queue_server.url)
    key = new_master_key()
    cluster.settings = replace(cluster.settings, master_key=f" {key} ")
    try:
        cluster.start_api()
        cluster.start_node("ml", "tls-ml-1")
        cluster.set_settings(
            trusted_connector_endpoints_regex=[LOOPBACK_TRUSTED],
            connector__private_ip_enabled=True,
        )
        connector_id = cluster.create_connector(parameters={"endpoint": mock.host, "model": "m"})
        model_id = cluster.register(connector_id, "over-tls")
        cluster.deploy(model_id)
        ask = {"messages": [{"role": "user", "content": "hi"}]}
        assert cluster.predict(model_id, ask).status_code == 200
    finally:
        cluster.stop()
    # The records went through the relay into the Redis behind it, sealed under the key the
    # environment gave, and no process made a key file.
    behind = Store(connect(redis_server.url), cluster.settings.key_prefix)
    connector = behind.connectors.get(connector_id)
    assert connector is not None
    assert CredentialCipher(key).decrypt(connector.credential) == {
        "openAI_key": "sk-test-secret-value"
    }
    assert behind.master_key.current_id() == key_id(key)
    assert not cluster.settings.master_key_path.exists()
    logs = [p.read_text(errors="replace") for p in tmp_path.glob("*.log")]
    password = read_password(redis_server.data_dir)
    assert logs and not any(password in log for log in logs)

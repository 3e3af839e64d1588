"""The master key lives in a key file (0600) or MODELGATE_MASTER_KEY, never in Redis; the
embedded Redis asks for a password and keeps its files to its owner."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from msgspec import structs
from redis.backoff import NoBackoff
from redis.retry import Retry

from common.connectors import build_document
from common.crypto import NONCE_BYTES, CredentialCipher, KeyRing, key_id, new_master_key
from common.keyring import KeyFile, KeyRingError, open_ring
from common.settings import Settings
from common.store import Store, connect
from tests.integration.cluster import (
    LOOPBACK_TRUSTED,
    Cluster,
    MockUpstream,
    connector_body,
    wait_for,
)
from tests.integration.redis_dump import found_in_files, found_in_redis
from tools.cli import PROJECT_ROOT
from tools.embedded_redis import EmbeddedRedis, read_password

ASK = {"messages": [{"role": "user", "content": "hi"}]}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _key_text(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def _store(server: EmbeddedRedis, prefix: str) -> Store:
    return Store(connect(server.url), prefix)


def _trust_loopback(cluster: Cluster) -> None:
    cluster.set_settings(
        trusted_connector_endpoints_regex=[LOOPBACK_TRUSTED], connector__private_ip_enabled=True
    )


def _served(cluster: Cluster, mock: MockUpstream) -> str:
    """A model on a mock connector, deployed, that answered one predict."""
    connector_id = cluster.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    model_id = cluster.register(connector_id, f"key-{uuid.uuid4().hex[:8]}")
    cluster.deploy(model_id)
    response = cluster.predict(model_id, ASK)
    assert response.status_code == 200, response.text
    return model_id


def test_the_key_file_is_private_and_the_key_is_nowhere_in_redis_or_its_files(
    gw: Cluster, mock: MockUpstream, redis_server: EmbeddedRedis, queue_server: EmbeddedRedis
) -> None:
    _served(gw, mock)  # the API sealed a credential and a node opened it
    path = gw.settings.master_key_path
    assert _mode(path) == 0o600
    (key,) = _key_text(path)
    raw = base64.b64decode(key)
    for server in (redis_server, queue_server):
        for needle in (key.encode(), raw):
            assert found_in_redis(server.url, needle) == []
            assert found_in_files(server.data_dir, needle) == []
    store = gw.store
    assert store.master_key.legacy() is None
    assert store.master_key.current_id() == key_id(key)


def test_processes_starting_together_without_a_key_file_end_with_one_key(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    script = (
        "import pathlib, sys, time\n"
        "from common.keyring import KeyFile, open_ring\n"
        "from common.settings import Settings\n"
        "from common.store import open_store\n"
        "settings = Settings.from_env()\n"
        "store = open_store(settings)\n"
        "store.redis.ping()\n"
        f"while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.001)\n"
        "print(open_ring(KeyFile(settings.master_key_path), store.master_key).newest_id)\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")},
        "MODELGATE_REDIS_URL": redis_server.url,
        "MODELGATE_KEY_PREFIX": f"race{uuid.uuid4().hex[:6]}",
        "MODELGATE_DATA_DIR": str(tmp_path / "data"),
    }
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE
        )
        for _ in range(4)
    ]
    go.touch()
    ids = {child.communicate(timeout=60)[0].decode().strip() for child in children}
    assert all(child.returncode == 0 for child in children)
    key_file = tmp_path / "data" / "master.key"
    assert ids == {key_id(k) for k in _key_text(key_file)}
    assert len(ids) == 1 and _mode(key_file) == 0o600
    assert [p.name for p in key_file.parent.iterdir()] == ["master.key"]  # no temp file left


def _race(key_file: KeyFile, threads: int) -> set[str]:
    """Create the key file from many threads at once; the key ids they ended with."""
    results: list[KeyRing] = []
    barrier = threading.Barrier(threads)

    def create() -> None:
        barrier.wait()
        results.append(key_file.create(KeyRing([new_master_key()])))

    running = [threading.Thread(target=create) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    assert len(results) == threads
    return {ring.newest_id for ring in results}


def test_threads_creating_the_key_file_at_once_all_read_the_winner(tmp_path: Path) -> None:
    for round_ in range(20):
        assert len(_race(KeyFile(tmp_path / f"k{round_}" / "master.key"), 8)) == 1


def test_a_process_without_the_cluster_key_is_refused_and_writes_no_key(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    store = _store(redis_server, f"nokey{uuid.uuid4().hex[:6]}")
    first = open_ring(KeyFile(tmp_path / "host1" / "master.key"), store.master_key)
    elsewhere = KeyFile(tmp_path / "host2" / "master.key")
    with pytest.raises(KeyRingError) as caught:
        open_ring(elsewhere, store.master_key)
    assert first.newest_id in str(caught.value) and "MODELGATE_MASTER_KEY" in str(caught.value)
    assert not elsewhere.path.exists()


def _legacy_seal(key: str, value: str) -> str:
    """A credential value as modelgate sealed it while the key lived in Redis."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + AESGCM(base64.b64decode(key)).encrypt(nonce, value.encode(), None)
    return base64.b64encode(sealed).decode("ascii")


@pytest.fixture
def legacy_cluster(
    redis_server: EmbeddedRedis, queue_server: EmbeddedRedis, mock: MockUpstream, tmp_path: Path
) -> Iterator[tuple[Cluster, str, str]]:
    """A cluster an older modelgate left: the key in Redis, a credential sealed under it."""
    key = new_master_key()
    cluster = Cluster.create(redis_server.url, tmp_path, "legacy", queue_server.url)
    store = cluster.store
    store.redis.set(store.key("config", "master_key"), key)
    assert found_in_files(redis_server.data_dir, key.encode())  # in the append-only file now
    body = connector_body(parameters={"endpoint": mock.host, "model": "m"})
    document = build_document(body, CredentialCipher(key), 1)
    credential = {"openAI_key": _legacy_seal(key, "sk-from-before-the-upgrade")}
    connector_id = f"legacy{uuid.uuid4().hex[:8]}"
    store.connectors.put(connector_id, structs.replace(document, credential=credential))
    try:
        cluster.start_api()
        cluster.start_node("ml", "legacy-ml-1")
        _trust_loopback(cluster)
        yield cluster, key, connector_id
    finally:
        cluster.stop()


def _rewritten(server: EmbeddedRedis) -> bool:
    info = redis.Redis.from_url(server.url).info("persistence")
    return not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]


def test_a_key_kept_in_redis_by_an_older_modelgate_moves_to_the_key_file(
    legacy_cluster: tuple[Cluster, str, str],
    redis_server: EmbeddedRedis,
    tmp_path: Path,
) -> None:
    cluster, key, connector_id = legacy_cluster
    model_id = cluster.register(connector_id, "legacy-model")
    cluster.deploy(model_id)
    response = cluster.predict(model_id, ASK)
    assert response.status_code == 200, response.text  # the old credential still opens

    assert _key_text(tmp_path / "master.key") == [key]
    assert _mode(tmp_path / "master.key") == 0o600
    store = cluster.store
    assert store.master_key.legacy() is None
    assert store.master_key.current_id() == key_id(key)
    wait_for(lambda: _rewritten(redis_server), 30, "the append-only file rewrite")
    assert found_in_files(redis_server.data_dir, key.encode()) == []
    assert found_in_redis(redis_server.url, key.encode()) == []


def test_the_embedded_redis_wants_its_password_and_keeps_its_files_private(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    once = Retry(NoBackoff(), 0)  # an authentication error is a connection error: no retries
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=redis_server.port, retry=once).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=redis_server.port, password="wrong", retry=once).ping()
    assert redis.Redis.from_url(redis_server.url).ping()
    assert _mode(redis_server.data_dir) == 0o700
    for path in redis_server.data_dir.rglob("*"):
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path
    assert redis_server.process is not None
    password = read_password(redis_server.data_dir)
    assert password not in " ".join(psutil.Process(redis_server.process.pid).cmdline())

    server = EmbeddedRedis(tmp_path / "restarted")
    url = server.start()
    try:
        redis.Redis.from_url(url).set("kept", "1")
    finally:
        server.stop()
    again = EmbeddedRedis(tmp_path / "restarted", server.port)
    assert again.start() == url  # the same password after a restart
    try:
        assert redis.Redis.from_url(url).get("kept") == b"1"
    finally:
        again.stop()


def test_an_older_data_dir_readable_by_all_is_made_private(tmp_path: Path) -> None:
    data = tmp_path / "old"
    (data / "appendonlydir").mkdir(parents=True)
    for path in (data, data / "appendonlydir"):
        path.chmod(0o755)
    aof = data / "appendonlydir" / "appendonly.aof.1.incr.aof"
    aof.write_text("")
    aof.chmod(0o644)
    server = EmbeddedRedis(data)
    server.start()
    try:
        assert _mode(data) == _mode(data / "appendonlydir") == 0o700
        assert _mode(aof) == 0o600
    finally:
        server.stop()


def test_settings_never_show_the_master_key() -> None:
    key = new_master_key()
    assert key not in repr(Settings(master_key=key))

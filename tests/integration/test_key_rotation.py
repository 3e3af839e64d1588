"""`modelgate rotate-master-key` re-seals every credential under a new key while predicts go
on, and a rotation that dies half-way is finished by running it again."""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from common.connectors import build_document
from common.crypto import CredentialCipher, KeyRing, key_id, new_master_key, sealed_by
from common.key_rotation import Rotation, RotationError
from common.keyring import EnvKeys, KeyFile, open_ring
from common.records import Connector, MLTaskType
from common.store import Store, connect
from tests.integration.cluster import (
    LOOPBACK_TRUSTED,
    Cluster,
    MockUpstream,
    connector_body,
    wait_for,
)
from tools.cli import PROJECT_ROOT, command
from tools.embedded_redis import EmbeddedRedis

ASK = {"messages": [{"role": "user", "content": "hi"}]}
SECRET = "sk-rotation-secret"


class Crash(Exception):
    """Raised by a test hook in the middle of a rotation."""


@pytest.fixture(scope="module")
def rot(
    redis_server: EmbeddedRedis,
    queue_server: EmbeddedRedis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    """A cluster with a key file of its own: rotating the session's shared one would strand
    the other clusters' credentials."""
    cluster = Cluster.create(
        redis_server.url, tmp_path_factory.mktemp("rotation"), "rot", queue_server.url
    )
    try:
        cluster.start_api()
        cluster.start_node("ml", "rot-ml-1")
        cluster.set_settings(
            trusted_connector_endpoints_regex=[LOOPBACK_TRUSTED],
            connector__private_ip_enabled=True,
        )
        yield cluster
    finally:
        cluster.stop()


def _connector(cluster: Cluster, mock: MockUpstream) -> str:
    return cluster.create_connector(
        parameters={"endpoint": mock.host, "model": "m"}, credential={"openAI_key": SECRET}
    )


def _models(cluster: Cluster, mock: MockUpstream) -> list[str]:
    """Two deployed models: one on a connector by id, one with its connector inline."""
    by_id = cluster.register(_connector(cluster, mock), f"rot-{uuid.uuid4().hex[:8]}")
    inline = connector_body(
        parameters={"endpoint": mock.host, "model": "m"}, credential={"openAI_key": SECRET}
    )
    body = {"name": f"rot-inline-{uuid.uuid4().hex[:8]}", "function_name": "remote"}
    answer = cluster.ok("POST", "/_plugins/_ml/models/_register", {**body, "connector": inline})
    assert cluster.task(answer["task_id"])["state"] == "COMPLETED"
    models = [by_id, str(answer["model_id"])]
    for model_id in models:
        cluster.deploy(model_id)
    return models


def _credentials(store: Store) -> list[dict[str, str]]:
    """Every sealed credential the cluster stores: connectors and inline connectors."""
    found = [c.credential for _, c in store.connectors.all()]
    inline: list[Connector] = [m.connector for _, m in store.models.all() if m.connector]
    return found + [c.credential for c in inline]


def _key_ids(store: Store) -> set[str | None]:
    return {sealed_by(v) for credential in _credentials(store) for v in credential.values()}


def _all_open(store: Store, ring: KeyRing) -> bool:
    cipher = CredentialCipher(ring)
    return all(cipher.decrypt(c) == {"openAI_key": SECRET} for c in _credentials(store))


class Load:
    """A thread firing predicts at the models until stopped; it keeps every failure."""

    def __init__(self, cluster: Cluster, models: list[str]) -> None:
        self.cluster, self.models = cluster, models
        self.done = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fire, daemon=True)
        self._thread.start()

    def _fire(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                model_id = self.models[self.done % len(self.models)]
                url = f"{self.cluster.url}/_plugins/_ml/models/{model_id}/_predict"
                response = session.post(url, json={"parameters": ASK}, timeout=30)
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text[:300]}")
                self.done += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def _rotate_command(cluster: Cluster, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    env.update(cluster.settings.to_env())
    return subprocess.run(
        command("rotate-master-key", *flags),
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_rotation_under_predict_load_fails_no_predict(rot: Cluster, mock: MockUpstream) -> None:
    models = _models(rot, mock)
    for _ in range(10):
        _connector(rot, mock)
    key_file = KeyFile(rot.settings.master_key_path)
    before = key_file.load()
    assert before is not None and _key_ids(rot.store) == {before.newest_id}

    load = Load(rot, models)
    try:
        started = load.done
        result = _rotate_command(rot, "--settle-seconds", "0.5")
        during = load.done - started
        assert result.returncode == 0, result.stdout + result.stderr
        later = load.done  # and predicts go on after it, on the new key alone
        wait_for(lambda: load.done >= later + 20 or load.failures, 60, "predicts after it")
    finally:
        load.stop()
    assert load.failures == []
    assert during > 0  # predicts did run while the rotation did

    after = key_file.load()
    assert after is not None and after.ids != before.ids and len(after.ids) == 1
    assert f"under master key {after.newest_id}" in result.stdout
    assert _key_ids(rot.store) == {after.newest_id}
    assert _all_open(rot.store, after)
    keys = [k for ring in (before, after) for k in ring.text().splitlines()[1:]]
    assert not any(key in result.stdout + result.stderr for key in keys)
    # A model deployed now (nothing cached) opens its credential under the new key.
    fresh = _models(rot, mock)
    assert all(rot.predict(m, ASK).status_code == 200 for m in fresh)


def test_a_rotation_that_dies_half_way_is_finished_by_running_it_again(
    rot: Cluster, mock: MockUpstream
) -> None:
    models = _models(rot, mock)
    for _ in range(6):
        _connector(rot, mock)
    key_file = KeyFile(rot.settings.master_key_path)
    old = key_file.load()
    assert old is not None and len(old.ids) == 1
    seen: list[str] = []

    def crash_after_three(record: str) -> None:
        seen.append(record)
        if len(seen) == 3:
            raise Crash(record)

    with pytest.raises(Crash):
        Rotation(rot.store, key_file, settle_s=0, after_record=crash_after_three).run()
    halfway = key_file.load()
    assert halfway is not None and len(halfway.ids) == 2 and halfway.ids[1] == old.newest_id
    new_id = halfway.newest_id
    assert _key_ids(rot.store) == {old.newest_id, new_id}  # some moved, some not yet
    assert _all_open(rot.store, halfway)
    assert all(rot.predict(m, ASK).status_code == 200 for m in models)

    report = Rotation(rot.store, key_file, settle_s=0).run()
    assert report.key_id == new_id  # resumed with the key the first run added
    assert report.dropped == [old.newest_id]
    done = key_file.load()
    assert done is not None and done.ids == [new_id]
    assert _key_ids(rot.store) == {new_id}
    assert _all_open(rot.store, done)
    assert all(rot.predict(m, ASK).status_code == 200 for m in models)


def test_with_keys_in_the_environment_the_rotation_moves_records_and_names_unused_keys(
    redis_server: EmbeddedRedis,
) -> None:
    store = Store(connect(redis_server.url), f"envrot{uuid.uuid4().hex[:6]}")
    old, new = new_master_key(), new_master_key()
    cipher = CredentialCipher(open_ring(EnvKeys(old), store.master_key))
    body = connector_body(credential={"openAI_key": SECRET})
    for n in range(3):
        store.connectors.put(f"c{n}", build_document(body, cipher, 1))

    with pytest.raises(RotationError, match=key_id(old)):
        Rotation(store, EnvKeys(new), settle_s=0).run()  # the current key left out: refused
    report = Rotation(store, EnvKeys(f"{new},{old}"), settle_s=0).run()
    assert report.key_id == key_id(new) and report.unused == [key_id(old)]
    assert len(report.resealed) == 3
    assert _key_ids(store) == {key_id(new)}
    assert _all_open(store, KeyRing([new]))
    assert store.master_key.current_id() == key_id(new)


def test_a_key_added_first_is_the_one_the_rotation_then_moves_to(
    rot: Cluster, mock: MockUpstream
) -> None:
    key_file = KeyFile(rot.settings.master_key_path)
    before = key_file.load()
    assert before is not None and len(before.ids) == 1
    staged = _rotate_command(rot, "--add-key-only")
    assert staged.returncode == 0, staged.stdout + staged.stderr
    ring = key_file.load()
    assert ring is not None and ring.ids[1:] == before.ids
    # Until the rotation runs, the cluster goes on sealing under the key it had.
    assert rot.store.master_key.current_id() == before.newest_id
    _connector(rot, mock)
    assert _key_ids(rot.store) == {before.newest_id}

    done = _rotate_command(rot, "--settle-seconds", "0")
    assert done.returncode == 0, done.stdout + done.stderr
    after = key_file.load()
    assert after is not None and after.ids == [ring.newest_id]
    assert _key_ids(rot.store) == {ring.newest_id}
    assert _all_open(rot.store, after)


def test_a_registration_queued_under_the_old_key_keeps_it_until_it_is_stored(
    rot: Cluster, mock: MockUpstream
) -> None:
    key_file = KeyFile(rot.settings.master_key_path)
    old = key_file.load()
    assert old is not None and len(old.ids) == 1
    rot.kill_node("rot-ml-1")  # still in the node table for a moment: the API queues the job
    inline = connector_body(
        parameters={"endpoint": mock.host, "model": "m"}, credential={"openAI_key": SECRET}
    )
    body = {"name": f"rot-queued-{uuid.uuid4().hex[:8]}", "function_name": "remote"}
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The API holds the request until a node stores the record (or its timeout).
        pending = pool.submit(
            rot.ok, "POST", "/_plugins/_ml/models/_register", {**body, "connector": inline}
        )
        wait_for(lambda: _queued_registers(rot.store), 20, "the register job to be queued")
        with pytest.raises(RotationError, match="registrations queued before the rotation"):
            Rotation(rot.store, key_file, settle_s=0.2, register_wait_s=1).run()
        rot.start_node("ml", "rot-ml-1")
        answer = pending.result(timeout=60)
    halfway = key_file.load()
    assert halfway is not None and halfway.ids[1:] == old.ids  # the old key stays

    assert rot.task(answer["task_id"])["state"] == "COMPLETED"
    model = rot.store.models.get(answer["model_id"])
    assert model is not None and model.connector is not None
    assert {sealed_by(v) for v in model.connector.credential.values()} == {old.newest_id}

    Rotation(rot.store, key_file, settle_s=0).run()
    done = key_file.load()
    assert done is not None and done.ids == [halfway.newest_id]
    assert _key_ids(rot.store) == {halfway.newest_id}
    assert _all_open(rot.store, done)


def _queued_registers(store: Store) -> list[str]:
    """The ids of the register tasks not finished yet."""
    found = [(i, store.tasks.get(i)) for i in store.active_tasks.older_than(0)]
    return [i for i, task in found if task and task.task_type == MLTaskType.REGISTER_MODEL]

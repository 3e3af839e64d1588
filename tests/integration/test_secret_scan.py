"""No stored or logged trace of a credential or a user's password: after register, deploy,
predict, logins and error paths, every key and value in both Redis servers, their files (the
append-only file keeps every write ever made, consumed Celery messages included) and every
process log are searched for the plain values, also as base64 would carry them (inside a
message body, or a basic-auth header)."""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests

from common.security.passwords import hash_password
from common.security.users_file import UserEntry, add_user
from tests.integration.cluster import Cluster, MockUpstream, connector_body, wait_for
from tests.integration.redis_dump import found_in_files, found_in_redis
from tools.embedded_redis import EmbeddedRedis, read_password

ASK = {"messages": [{"role": "user", "content": "hi"}]}


def _needles(secret: str) -> list[bytes]:
    """The secret as text, and as base64 carries it at each of the three byte alignments."""
    raw = secret.encode()
    found = [raw]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw)
        # Drop the characters that mix in neighbouring bytes at either end.
        start = (shift * 4 + 2) // 3 if shift else 0
        found.append(encoded[start : len(encoded) - 4])
    return found


def _action(url: str) -> dict[str, Any]:
    return {
        "action_type": "predict",
        "method": "POST",
        "url": url,
        "headers": {"Authorization": "Bearer ${credential.openAI_key}"},
        "request_body": '{ "model": "m", "messages": ${parameters.messages} }',
    }


def _exercise(gw: Cluster, mock: MockUpstream, secrets: dict[str, str]) -> list[requests.Response]:
    """Create, register, deploy, predict and fail in the ways a user would; every answer."""
    answers: list[requests.Response] = []
    chat = "http://${parameters.endpoint}/v1/chat/completions"
    params = {"endpoint": mock.host, "model": "m"}
    connector_id = gw.create_connector(
        parameters=params,
        credential={"openAI_key": secrets["created"]},
        actions=[_action(chat)],
    )
    answers.append(gw.call("GET", f"/_plugins/_ml/connectors/{connector_id}"))
    answers.append(
        gw.call("POST", "/_plugins/_ml/connectors/_search", {"query": {"match_all": {}}})
    )
    model_id = gw.register(connector_id, f"scan-{uuid.uuid4().hex[:8]}")
    gw.deploy(model_id)
    answers.append(gw.predict(model_id, ASK))
    assert answers[-1].status_code == 200, answers[-1].text
    answers.append(gw.predict(model_id, {"messages": "not json ["}))  # the upstream refuses
    # A credential update while a model serves the connector is refused.
    body = {"credential": {"openAI_key": secrets["refused"]}}
    answers.append(gw.call("PUT", f"/_plugins/_ml/connectors/{connector_id}", body))
    assert answers[-1].status_code == 400
    bad = connector_body(protocol="ftp", credential={"openAI_key": secrets["refused"]})
    answers.append(gw.call("POST", "/_plugins/_ml/connectors/_create", bad))
    assert answers[-1].status_code == 400

    # The credential in the URL, the upstream answering 401, then unreachable.
    for url in (
        "http://${parameters.endpoint}/status/401?key=${credential.openAI_key}",
        "http://127.0.0.1:1/v1/chat/completions?key=${credential.openAI_key}",
    ):
        inline = connector_body(
            parameters=params,
            credential={"openAI_key": secrets["inline"]},
            actions=[_action(url)],
        )
        register = {"name": f"scan-inline-{uuid.uuid4().hex[:8]}", "function_name": "remote"}
        answer = gw.ok("POST", "/_plugins/_ml/models/_register", {**register, "connector": inline})
        gw.task(answer["task_id"])
        gw.deploy(answer["model_id"])
        answers.append(gw.predict(answer["model_id"], ASK))
        assert answers[-1].status_code != 200

    # A credential replaced on a connector no model uses.
    spare = gw.create_connector(parameters=params, credential={"openAI_key": "first"})
    body = {"credential": {"openAI_key": secrets["updated"]}}
    answers.append(gw.call("PUT", f"/_plugins/_ml/connectors/{spare}", body))
    assert answers[-1].status_code == 200, answers[-1].text
    answers.append(gw.call("POST", f"/_plugins/_ml/models/{model_id}/_undeploy"))
    return answers


def _logs(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.log") if p.is_file()]


def test_no_credential_is_stored_logged_or_answered_in_the_clear(
    gw: Cluster,
    mock: MockUpstream,
    redis_server: EmbeddedRedis,
    queue_server: EmbeddedRedis,
    tmp_root: Path,
) -> None:
    tag = uuid.uuid4().hex
    secrets = {what: f"sk-{what}-{tag}" for what in ("created", "refused", "inline", "updated")}
    answers = _exercise(gw, mock, secrets)
    # Every process has written what it would about this: the nodes settled every task.
    wait_for(lambda: not gw.store.active_tasks.older_than(0), 30, "every task to settle")
    assert len(_logs(tmp_root)) >= 4  # API, nodes, valkey

    for secret in secrets.values():
        for needle in _needles(secret):
            for answer in answers:
                assert needle not in answer.content, (answer.request.url, answer.text)
            for server in (redis_server, queue_server):
                assert found_in_redis(server.url, needle) == []
            assert found_in_files(tmp_root, needle) == []

    # Nor the master key outside its file, nor a Redis password in a log.
    (key,) = [k for k in gw.settings.master_key_path.read_text().splitlines() if "#" not in k]
    for path in found_in_files(tmp_root, key.encode()):
        assert path == gw.settings.master_key_path
    for server in (redis_server, queue_server):
        password = read_password(server.data_dir).encode()
        assert not [p for p in _logs(tmp_root) if password in p.read_bytes()]


def test_the_scan_finds_a_value_where_it_is() -> None:
    """The base64 needles match inside any encoding of a longer text holding the secret."""
    secret = "sk-needle-0123456789"
    for prefix in ("", "a", "ab", "abc"):
        carried = base64.b64encode(f'{prefix}{{"key": "{secret}"}}'.encode())
        assert any(needle in carried for needle in _needles(secret)[1:]), prefix


class _SecuredCluster(Cluster):
    """Security on: GET / answers 401 to the readiness probe, which is serving too."""

    def _api_up(self) -> bool:
        try:
            return requests.get(self.url + "/", timeout=1).status_code in (200, 401)
        except requests.ConnectionError:
            return False


def test_no_user_password_is_stored_or_logged(
    redis_server: EmbeddedRedis, queue_server: EmbeddedRedis, tmp_path: Path
) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    users = tmp_path / "internal_users.yml"
    entry = UserEntry(hash=hash_password(password, rounds=4), roles=("all_access",))
    add_user(users, "scanner", entry)
    base = Cluster.create(redis_server.url, tmp_path, "scanpw", queue_server.url)
    settings = replace(base.settings, security=True, users_file=users)
    secured = _SecuredCluster(settings=settings, tmp=tmp_path)
    ml = f"{secured.url}/_plugins/_ml"
    try:
        secured.start_api()
        good = ("scanner", password)
        assert requests.get(secured.url + "/", auth=good, timeout=10).status_code == 200
        for wrong in (("scanner", password + "x"), ("nobody", password)):
            assert requests.get(secured.url + "/", auth=wrong, timeout=10).status_code == 401
        trust = {"persistent": {"plugins.ml_commons.trusted_connector_endpoints_regex": [".*"]}}
        assert requests.put(
            f"{secured.url}/_cluster/settings", json=trust, auth=good, timeout=10
        ).ok
        body = connector_body(credential={"openAI_key": f"sk-{password}"})
        created = requests.post(f"{ml}/connectors/_create", json=body, auth=good, timeout=10)
        assert created.status_code == 200, created.text
        refused = requests.post(f"{ml}/connectors/_create", json={}, auth=good, timeout=10)
        assert refused.status_code == 400
    finally:
        secured.stop()
    assert _logs(tmp_path)
    for needle in _needles(password):
        for server in (redis_server, queue_server):
            assert found_in_redis(server.url, needle) == []
        assert found_in_files(tmp_path, needle) == []
        assert found_in_files(redis_server.data_dir, needle) == []

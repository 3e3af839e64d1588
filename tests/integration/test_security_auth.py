"""Security on: basic auth against the users file, the Security plugin's roles, authinfo,
hot reload, the failed-login block, the body limits, and the refusal to run open on a
public address. One cluster (an API of two processes and an ML node), shared module-wide."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from requests.adapters import HTTPAdapter

from common.security.passwords import hash_password
from common.security.users_file import UserEntry, add_user, remove_user
from tests.integration.cluster import (
    LOOPBACK_TRUSTED,
    Cluster,
    MockUpstream,
    connector_body,
    wait_for,
)
from tools.cli import PROJECT_ROOT, command
from tools.embedded_redis import EmbeddedRedis, free_port

FAST = 4  # bcrypt rounds: the same checks, cheaper hashes
TRIES = 20
CHALLENGE = 'Basic realm="OpenSearch Security"'
USERS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "admin": ("admin-pw", ("admin",), ("all_access",)),
    "alice": ("alice-pw", ("IT", "HR"), ("ml_full_access",)),
    "rita": ("rita-pw", ("IT",), ("ml_readonly_access",)),
    "nobody": ("nobody-pw", ("guests",), ()),
    "carol": ("carol-pw", (), ("ml_full_access",)),  # used only once an address is blocked
}
ML = "/_plugins/_ml"


def auth(name: str) -> tuple[str, str]:
    return name, USERS[name][0]


class SourceAdapter(HTTPAdapter):
    """Connect from a given loopback address: each test's failed logins count apart."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def client_at(source: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", SourceAdapter(source))
    return session


@dataclass
class SecureCluster(Cluster):
    """A Cluster whose helpers call as admin; GET / answers 401 to anonymous probes."""

    def _api_up(self) -> bool:
        try:
            return requests.get(self.url + "/", timeout=1).status_code == 401
        except requests.ConnectionError:
            return False

    def call(self, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
        return self.as_user("admin", method, path, body, **params)

    def as_user(
        self, name: str, method: str, path: str, body: Any = None, **params: str
    ) -> requests.Response:
        return requests.request(
            method, self.url + path, json=body, params=params, auth=auth(name), timeout=30
        )


def write_user(path: Path, name: str, password: str, backend: tuple[str, ...] = (),
               roles: tuple[str, ...] = ()) -> None:  # fmt: skip
    hashed = hash_password(password, rounds=FAST)
    add_user(path, name, UserEntry(hash=hashed, backend_roles=backend, roles=roles))


@pytest.fixture(scope="module")
def secure(
    redis_server: EmbeddedRedis, queue_server: EmbeddedRedis, tmp_root: Path
) -> Iterator[SecureCluster]:
    tmp = tmp_root / "security"
    tmp.mkdir(exist_ok=True)
    users = tmp / "internal_users.yml"
    for name, (password, backend, roles) in USERS.items():
        write_user(users, name, password, backend, roles)
    base = Cluster.create(redis_server.url, tmp, "sec", queue_server.url)
    settings = replace(
        base.settings,
        security=True,
        users_file=users,
        api_workers=2,  # the failure count and the block are shared through Redis
        auth_allowed_tries=TRIES,
        auth_time_window_s=300,
        auth_block_s=300,
    )
    running = SecureCluster(settings=settings, tmp=tmp)
    try:
        running.start_api()
        running.start_node("ml", "sec-ml-1")
        yield running
    finally:
        running.stop()


def assert_envelope(response: requests.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    cause = {"type": "security_exception", "reason": reason}
    assert response.json() == {"error": {"root_cause": [cause], **cause}, "status": status}


def test_no_or_wrong_credentials_get_401_with_the_basic_challenge(secure: SecureCluster) -> None:
    client = client_at("127.0.0.2")
    url = secure.url + f"{ML}/models/_search"
    attempts = [
        {},
        {"auth": ("alice", "not-her-password")},
        {"auth": ("mallory", "alice-pw")},
        {"auth": ("alice", "")},
        {"headers": {"Authorization": "Basic !!not-base64!!"}},
        {"headers": {"Authorization": "Bearer alice-pw"}},
    ]
    for attempt in attempts:
        response = client.get(url, timeout=10, **attempt)  # type: ignore[arg-type]
        assert_envelope(response, 401, "Unauthorized")
        assert response.headers["WWW-Authenticate"] == CHALLENGE
        assert "pw" not in response.text
    root = client.get(secure.url + "/", timeout=10)
    assert_envelope(root, 401, "Unauthorized")
    ok = client.get(url, auth=auth("alice"), timeout=10)
    assert ok.status_code == 200, ok.text
    assert "WWW-Authenticate" not in ok.headers


def test_authinfo_answers_who_the_caller_is(secure: SecureCluster) -> None:
    for path in ("/_plugins/_security/authinfo", "/_opendistro/_security/authinfo"):
        info = secure.as_user("alice", "GET", path)
        assert info.status_code == 200, info.text
        body = info.json()
        assert list(body) == [
            "user", "user_name", "user_requested_tenant", "remote_address", "backend_roles",
            "custom_attribute_names", "roles", "tenants", "principal", "peer_certificates",
            "sso_logout_url",
        ]  # fmt: skip
        assert body["user"] == "User [name=alice, backend_roles=[IT, HR], requestedTenant=null]"
        assert body["user_name"] == "alice"
        assert body["backend_roles"] == ["IT", "HR"]
        assert body["roles"] == ["ml_full_access"]
        assert body["tenants"] == {"alice": True}
        assert body["remote_address"].startswith("127.0.0.1")  # granian gives no port
        assert body["peer_certificates"] == "0" and body["principal"] is None
    admin = secure.as_user("admin", "POST", "/_plugins/_security/authinfo").json()
    assert admin["roles"] == ["all_access"] and admin["tenants"]["global_tenant"] is True
    nobody = secure.as_user("nobody", "GET", "/_plugins/_security/authinfo")
    assert nobody.status_code == 200 and nobody.json()["roles"] == []
    anonymous = requests.get(secure.url + "/_plugins/_security/authinfo", timeout=10)
    assert_envelope(anonymous, 401, "Unauthorized")


def denied(action: str, user: str) -> str:
    _, backend, _ = USERS[user]
    return (
        f"no permissions for [{action}] and "
        f"User [name={user}, backend_roles=[{', '.join(backend)}], requestedTenant=null]"
    )


def test_ml_full_access_runs_the_ml_api_but_not_cluster_settings(
    secure: SecureCluster, mock: MockUpstream
) -> None:
    settings = {"persistent": {"plugins.ml_commons.connector.private_ip_enabled": True}}
    refused = secure.as_user("alice", "PUT", "/_cluster/settings", settings)
    assert_envelope(refused, 403, denied("cluster:admin/settings/update", "alice"))
    assert secure.as_user("alice", "GET", "/_cluster/settings").status_code == 200
    assert secure.as_user("alice", "GET", "/").json()["version"]["distribution"] == "opensearch"
    secure.set_settings(  # as admin
        trusted_connector_endpoints_regex=[LOOPBACK_TRUSTED], connector__private_ip_enabled=True
    )
    body = {"parameters": {"endpoint": mock.host, "model": "gpt-3.5-turbo"}}
    connector = secure.as_user("alice", "POST", f"{ML}/connectors/_create", connector_body(**body))
    assert connector.status_code == 200, connector.text
    register = {"name": "gpt", "function_name": "remote"}
    register["connector_id"] = connector.json()["connector_id"]
    model = secure.as_user("alice", "POST", f"{ML}/models/_register", register, deploy="true")
    assert model.status_code == 200, model.text
    model_id = model.json()["model_id"]
    secure.task(model.json()["task_id"])

    def deployed() -> bool:
        answer = secure.as_user("alice", "GET", f"{ML}/models/{model_id}")
        return bool(answer.json()["model_state"] == "DEPLOYED")

    wait_for(deployed, 30, "the model to deploy")
    messages = [{"role": "user", "content": "Hello!"}]
    predict = secure.as_user(
        "alice", "POST", f"{ML}/models/{model_id}/_predict", {"parameters": {"messages": messages}}
    )
    assert predict.status_code == 200, predict.text
    assert "inference_results" in predict.json()
    assert secure.as_user("alice", "GET", f"{ML}/stats").status_code == 200
    undeployed = secure.as_user("alice", "POST", f"{ML}/models/{model_id}/_undeploy")
    assert undeployed.status_code == 200, undeployed.text
    deleted = secure.as_user("alice", "DELETE", f"{ML}/models/{model_id}")
    assert deleted.status_code == 200, deleted.text


def test_readonly_access_only_reads(secure: SecureCluster) -> None:
    connector_id = secure.create_connector()  # as admin
    register = {"name": "ro", "function_name": "remote", "connector_id": connector_id}
    model = secure.ok("POST", f"{ML}/models/_register", register)
    model_id = model["model_id"]
    secure.task(model["task_id"])
    reads: list[tuple[str, str, Any]] = [
        ("GET", f"{ML}/models/{model_id}", None),
        ("GET", f"{ML}/connectors/{connector_id}", None),
        ("POST", f"{ML}/models/_search", {"query": {"match_all": {}}}),
        ("GET", f"{ML}/connectors/_search", None),
        ("POST", f"{ML}/model_groups/_search", {}),
        ("GET", f"{ML}/tasks/{model['task_id']}", None),
        ("POST", f"{ML}/tasks/_search", {}),
        ("GET", f"{ML}/stats", None),
        ("GET", f"{ML}/profile/models", None),
    ]
    for method, path, body in reads:
        answer = secure.as_user("rita", method, path, body)
        assert answer.status_code == 200, (path, answer.text)
    ml = "cluster:admin/opensearch/ml/"
    writes: list[tuple[str, str, Any, str]] = [
        ("POST", f"{ML}/models/{model_id}/_predict", {"parameters": {}}, ml + "predict"),
        ("POST", f"{ML}/models/{model_id}/_deploy", None, ml + "deploy_model"),
        ("DELETE", f"{ML}/models/{model_id}", None, ml + "models/delete"),
        ("PUT", f"{ML}/models/{model_id}", {"name": "x"}, ml + "models/update"),
        ("POST", f"{ML}/connectors/_create", {}, ml + "create_connector"),
        ("POST", f"{ML}/model_groups/_register", {"name": "g"}, ml + "register_model_group"),
        ("GET", "/_cluster/settings", None, "cluster:monitor/state"),
        ("GET", "/", None, "cluster:monitor/main"),
    ]
    for method, path, body, action in writes:
        assert_envelope(secure.as_user("rita", method, path, body), 403, denied(action, "rita"))
    for path in (f"{ML}/models/{model_id}", f"{ML}/stats"):
        read = secure.as_user("nobody", "GET", path)
        action = ml + ("models/get" if "models" in path else "stats/nodes")
        assert_envelope(read, 403, denied(action, "nobody"))
    # An unknown route still answers OpenSearch's 400, to an authenticated caller only.
    assert secure.as_user("nobody", "GET", "/_plugins/_ml/nowhere/x/y").status_code == 400
    assert requests.get(secure.url + "/_plugins/_ml/nowhere/x/y", timeout=10).status_code == 401


def test_the_users_file_is_read_again_without_a_restart(secure: SecureCluster) -> None:
    users = secure.settings.users_path
    client = client_at("127.0.0.3")
    url = secure.url + "/_plugins/_security/authinfo"

    def status(who: tuple[str, str]) -> int:
        # A new connection each time: either API process may answer.
        return client.get(url, auth=who, headers={"Connection": "close"}, timeout=10).status_code

    assert status(("dora", "dora-pw")) == 401
    write_user(users, "dora", "dora-pw", ("ops",), ("ml_readonly_access",))
    wait_for(lambda: status(("dora", "dora-pw")) == 200, 10, "dora to log in", interval=0.3)
    write_user(users, "dora", "dora-new-pw", ("ops",), ("ml_readonly_access",))
    wait_for(lambda: status(("dora", "dora-pw")) == 401, 10, "the old password to fail", 0.3)
    wait_for(lambda: status(("dora", "dora-new-pw")) == 200, 10, "the new password", 0.3)
    remove_user(users, "dora")
    wait_for(lambda: status(("dora", "dora-new-pw")) == 401, 10, "dora to be gone", 0.3)


def test_an_address_failing_too_often_is_blocked_in_every_api_process(
    secure: SecureCluster, redis_server: EmbeddedRedis
) -> None:
    blocked_source = "127.0.0.4"
    client = client_at(blocked_source)
    url = secure.url + f"{ML}/models/_search"
    close = {"Connection": "close"}  # new connections: both API processes see the attempts
    for _ in range(TRIES):
        wrong = client.get(url, auth=("alice", "guess"), headers=close, timeout=10)
        assert wrong.status_code == 401
    for who in (("carol", "carol-pw"), ("alice", "guess")):
        refused = client.get(url, auth=who, headers=close, timeout=10)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["type"] == "security_exception"
        assert 0 < int(refused.headers["Retry-After"]) <= 300
        assert "WWW-Authenticate" not in refused.headers
        assert "Too many failed logins" in refused.json()["error"]["reason"]
    records = redis.Redis.from_url(redis_server.url, decode_responses=True)
    assert 0 < int(records.ttl(f"sec:auth:blocked:{blocked_source}")) <= 300
    # Other addresses are not affected.
    assert secure.as_user("carol", "GET", f"{ML}/models/_search").status_code == 200


def test_body_limits_still_hold_and_auth_never_reads_the_body(secure: SecureCluster) -> None:
    for who in (None, auth("admin")):
        connection = http.client.HTTPConnection("127.0.0.1", secure.settings.port, timeout=10)
        connection.putrequest("POST", f"{ML}/models/_search")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(200 * 1024 * 1024))  # never sent
        if who is not None:
            token = requests.auth._basic_auth_str(*who)
            connection.putheader("Authorization", token)
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["status"] == 413
        connection.close()
    deep = "[" * 150 + "]" * 150
    nested = requests.post(
        secure.url + f"{ML}/models/_search",
        data=f'{{"query": {deep}}}',
        headers={"Content-Type": "application/json"},
        auth=auth("rita"),
        timeout=10,
    )
    assert nested.status_code == 400 and nested.json()["error"]["type"] == "parse_exception"


def test_no_password_reaches_the_api_log(secure: SecureCluster) -> None:
    log = (secure.tmp / "api-sec.log").read_text(errors="replace")
    for password, _, _ in USERS.values():
        assert password not in log


def _run_refused(
    sub: str, redis_url: str, tmp: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    env.update(
        MODELGATE_REDIS_URL=redis_url,
        MODELGATE_DATA_DIR=str(tmp),
        MODELGATE_PORT=str(free_port()),
        **extra,
    )
    return subprocess.run(
        command(sub), env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip


@pytest.mark.parametrize("sub", ["api", "up"])
def test_security_off_on_a_public_address_is_refused_in_one_line(
    sub: str, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    done = _run_refused(
        sub, redis_server.url, tmp_path, MODELGATE_HOST="0.0.0.0", MODELGATE_SECURITY="off"
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if "refusing" in line]
    assert len(lines) == 1, done.stderr
    assert "refusing to serve the API on 0.0.0.0 with MODELGATE_SECURITY=off" in lines[0]
    assert "MODELGATE_SECURITY_DISABLED_ON_PUBLIC_ADDRESS_I_UNDERSTAND=1" in lines[0]
    assert not (tmp_path / "redis").exists()  # refused before anything started


def test_predict_refusals_are_the_same_on_the_fast_path(secure: SecureCluster) -> None:
    # A plain predict is served by api/fast_predict.py; with a query string, by Flask's route.
    client = client_at("127.0.0.9")  # an address of its own: its failed logins count apart
    path = f"{ML}/models/no-such-model/_predict"
    body = {"parameters": {}}
    statuses = []
    for who in (None, ("alice", "guess"), auth("rita"), auth("nobody"), auth("alice")):
        fast = client.post(secure.url + path, json=body, auth=who, timeout=10)
        flask = client.post(secure.url + path + "?via=flask", json=body, auth=who, timeout=10)
        assert (fast.status_code, fast.content) == (flask.status_code, flask.content)
        assert fast.headers.get("WWW-Authenticate") == flask.headers.get("WWW-Authenticate")
        statuses.append(fast.status_code)
    assert statuses == [401, 401, 403, 403, 404]
    blocked = client_at("127.0.0.10")
    for _ in range(TRIES):
        wrong = blocked.post(secure.url + path, json=body, auth=("alice", "guess"), timeout=10)
        assert wrong.status_code == 401
    # Credentials no process has verified yet: a known good one skips the block (authenticator).
    never = ("alice", "never-tried")
    fast = blocked.post(secure.url + path, json=body, auth=never, timeout=10)
    flask = blocked.post(secure.url + path + "?x", json=body, auth=never, timeout=10)
    assert fast.status_code == flask.status_code == 429, fast.text
    assert fast.content == flask.content
    assert 0 < int(fast.headers["Retry-After"]) <= int(flask.headers["Retry-After"]) + 1

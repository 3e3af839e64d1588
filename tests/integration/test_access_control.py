"""Access control with real users: connectors, model groups, models, search, controllers.

One cluster of this module's own with security on (basic auth against a users file), an
API and one ML node; the users are those of ML Commons' MLModelGroupRestIT.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from common.security.passwords import hash_password
from common.security.users_file import UserEntry, write_users
from tests.integration.cluster import LOOPBACK_TRUSTED, Cluster, MockUpstream, connector_body
from tools.embedded_redis import EmbeddedRedis

PASSWORD = "IntegTest@MLModelGroupRestIT123"
USERS = {
    "admin": (("admin",), ("all_access",)),
    "user1": (("IT", "HR"), ("ml_full_access",)),
    "user2": (("IT",), ("ml_full_access",)),
    "user3": (("Finance",), ("ml_full_access",)),
    "user4": ((), ("ml_full_access",)),
}
ML = "/_plugins/_ml"


@dataclasses.dataclass
class SecureCluster(Cluster):
    """A Cluster whose calls authenticate, as `admin` unless another user is named."""

    def _api_up(self) -> bool:
        try:
            answer = requests.get(self.url + "/", timeout=1, auth=("admin", PASSWORD))
        except requests.ConnectionError:
            return False
        return answer.status_code == 200

    def call(self, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
        return self.as_user("admin", method, path, body, **params)

    def as_user(
        self, user: str, method: str, path: str, body: Any = None, **params: str
    ) -> requests.Response:
        return requests.request(
            method, self.url + path, json=body, params=params, auth=(user, PASSWORD), timeout=30
        )

    def ok_as(self, user: str, method: str, path: str, body: Any = None, **params: str) -> Any:
        response = self.as_user(user, method, path, body, **params)
        assert response.status_code == 200, response.text
        return response.json()


def _write_users(path: Path) -> None:
    hashed = hash_password(PASSWORD, rounds=4)  # the lowest bcrypt cost: tests only
    write_users(
        path,
        {
            name: UserEntry(hash=hashed, backend_roles=backend, roles=roles)
            for name, (backend, roles) in USERS.items()
        },
    )


@pytest.fixture(scope="module")
def secure(
    redis_server: EmbeddedRedis, queue_server: EmbeddedRedis, tmp_root: Path
) -> Iterator[SecureCluster]:
    base = Cluster.create(redis_server.url, tmp_root, "acl", queue_server.url)
    users = tmp_root / "acl-users.yml"
    _write_users(users)
    settings = dataclasses.replace(base.settings, security=True, users_file=users)
    running = SecureCluster(settings=settings, tmp=tmp_root)
    try:
        running.start_api()
        running.start_node("ml", "acl-ml-1")
        yield running
    finally:
        running.stop()


@pytest.fixture
def acl(secure: SecureCluster, mock: MockUpstream) -> SecureCluster:
    """The secure cluster with loopback trusted and both access-control settings off."""
    secure.set_settings(
        trusted_connector_endpoints_regex=[LOOPBACK_TRUSTED],
        connector__private_ip_enabled=True,
        connector_access_control_enabled=False,
        model_access_control_enabled=False,
    )
    return secure


def _error(response: requests.Response, status: int, error_type: str, reason: str) -> None:
    assert response.status_code == status, response.text
    cause = {"type": error_type, "reason": reason}
    assert response.json() == {
        "error": {"root_cause": [cause], "type": error_type, "reason": reason},
        "status": status,
    }


def _connector(acl: SecureCluster, mock: MockUpstream, user: str, **fields: Any) -> str:
    body = connector_body(parameters={"endpoint": mock.host, "model": "gpt-3.5-turbo"}, **fields)
    return str(acl.ok_as(user, "POST", f"{ML}/connectors/_create", body)["connector_id"])


def _group(acl: SecureCluster, user: str, **fields: Any) -> str:
    body = {"name": f"group-{secrets.token_hex(4)}", **fields}
    answer = acl.ok_as(user, "POST", f"{ML}/model_groups/_register", body)
    return str(answer["model_group_id"])


def _model(acl: SecureCluster, user: str, connector_id: str, group_id: str) -> str:
    body = {
        "name": f"model-{secrets.token_hex(4)}",
        "function_name": "remote",
        "connector_id": connector_id,
        "model_group_id": group_id,
    }
    answer = acl.ok_as(user, "POST", f"{ML}/models/_register", body)
    assert acl.task(answer["task_id"])["state"] == "COMPLETED"
    return str(answer["model_id"])


def _total(acl: SecureCluster, user: str, kind: str, query: dict[str, Any]) -> tuple[int, int]:
    answer = acl.ok_as(user, "POST", f"{ML}/{kind}/_search", {"query": query, "size": 1000})
    return answer["hits"]["total"]["value"], len(answer["hits"]["hits"])


PROMPT = {"messages": [{"role": "user", "content": "hi"}]}


def _predict(acl: SecureCluster, user: str, model_id: str) -> requests.Response:
    return acl.as_user(user, "POST", f"{ML}/models/{model_id}/_predict", {"parameters": PROMPT})


# Connectors


def test_access_fields_are_refused_while_connector_access_control_is_off(
    acl: SecureCluster, mock: MockUpstream
):
    body = connector_body(backend_roles=["IT"])
    _error(
        acl.as_user("user1", "POST", f"{ML}/connectors/_create", body),
        400,
        "illegal_argument_exception",
        "You cannot specify connector access control parameters because the Security plugin "
        "or connector access control is disabled on your cluster.",
    )
    # Without the setting, connectors have no owner and everyone may read them.
    connector_id = _connector(acl, mock, "user1")
    shown = acl.ok_as("user3", "GET", f"{ML}/connectors/{connector_id}")
    assert "owner" not in shown and "access" not in shown


def test_connector_owner_roles_and_admin(acl: SecureCluster, mock: MockUpstream):
    acl.set_settings(connector_access_control_enabled=True)
    private = _connector(acl, mock, "user1")
    shown = acl.ok_as("user1", "GET", f"{ML}/connectors/{private}")
    assert shown["access"] == "private"
    assert shown["owner"] == {
        "name": "user1",
        "backend_roles": ["IT", "HR"],
        "roles": ["ml_full_access"],
        "custom_attribute_names": [],
        "user_requested_tenant": "__user__",
    }
    assert "credential" not in shown
    _error(
        acl.as_user("user2", "GET", f"{ML}/connectors/{private}"),
        403,
        "status_exception",
        "You don't have permission to access this connector",
    )
    acl.ok_as("admin", "GET", f"{ML}/connectors/{private}")

    shared = _connector(acl, mock, "user1", backend_roles=["IT"])
    assert acl.ok_as("user2", "GET", f"{ML}/connectors/{shared}")["backend_roles"] == ["IT"]
    _error(
        acl.as_user("user3", "PUT", f"{ML}/connectors/{shared}", {"description": "mine"}),
        400,
        "illegal_argument_exception",
        f"You don't have permission to update the connector, connector id: {shared}",
    )
    _error(
        acl.as_user("user3", "DELETE", f"{ML}/connectors/{shared}"),
        500,
        "m_l_validation_exception",
        "You are not allowed to delete this connector",
    )
    acl.ok_as("user2", "PUT", f"{ML}/connectors/{shared}", {"description": "shared"})
    assert acl.ok_as("user2", "DELETE", f"{ML}/connectors/{shared}")["result"] == "deleted"


def test_connector_create_rules_under_access_control(acl: SecureCluster, mock: MockUpstream):
    acl.set_settings(connector_access_control_enabled=True)
    cases = [
        (
            "user4",
            {"add_all_backend_roles": True},
            "You must have at least one backend role to create a connector.",
        ),
        ("user2", {"backend_roles": ["HR"]}, "You don't have the backend roles specified."),
        ("admin", {"add_all_backend_roles": True}, "Admin can't add all backend roles"),
    ]
    for user, fields, message in cases:
        body = connector_body(parameters={"endpoint": mock.host}, **fields)
        answer = acl.as_user(user, "POST", f"{ML}/connectors/_create", body)
        _error(answer, 400, "illegal_argument_exception", message)
    everything = _connector(acl, mock, "user1", add_all_backend_roles=True)
    shown = acl.ok_as("admin", "GET", f"{ML}/connectors/{everything}")
    assert (shown["access"], shown["backend_roles"]) == ("restricted", ["IT", "HR"])


def test_connector_search_holds_only_what_the_caller_may_see(
    acl: SecureCluster, mock: MockUpstream
):
    acl.set_settings(connector_access_control_enabled=True)
    tag = f"search-{secrets.token_hex(4)}"
    _connector(acl, mock, "user1", description=tag)  # private to user1
    _connector(acl, mock, "user1", description=tag, backend_roles=["HR"])
    _connector(acl, mock, "user3", description=tag, access_mode="public")
    query = {"match": {"description": tag}}
    assert _total(acl, "admin", "connectors", query) == (3, 3)
    assert _total(acl, "user1", "connectors", query) == (3, 3)
    assert _total(acl, "user2", "connectors", query) == (1, 1)  # the public one only
    assert _total(acl, "user3", "connectors", query) == (1, 1)
    acl.set_settings(connector_access_control_enabled=False)
    assert _total(acl, "user2", "connectors", query) == (3, 3)


def test_a_model_cannot_use_a_connector_the_user_may_not_use(
    acl: SecureCluster, mock: MockUpstream
):
    acl.set_settings(connector_access_control_enabled=True)
    private = _connector(acl, mock, "user1")
    body = {"name": f"m-{secrets.token_hex(4)}", "function_name": "remote", "connector_id": private}
    _error(
        acl.as_user("user2", "POST", f"{ML}/models/_register", body),
        400,
        "illegal_argument_exception",
        f"You don't have permission to use the connector provided, connector id: {private}",
    )


# Model groups


def test_group_fields_refused_while_model_access_control_is_off(acl: SecureCluster):
    body = {"name": f"g-{secrets.token_hex(4)}", "access_mode": "private"}
    _error(
        acl.as_user("user1", "POST", f"{ML}/model_groups/_register", body),
        400,
        "illegal_argument_exception",
        "You cannot specify model access control parameters because the Security plugin or "
        "model access control is disabled on your cluster.",
    )
    group_id = _group(acl, "user1")
    shown = acl.ok_as("user3", "GET", f"{ML}/model_groups/{group_id}")
    assert shown["access"] == "public" and "owner" not in shown


def test_group_get_update_delete_under_model_access_control(acl: SecureCluster):
    acl.set_settings(model_access_control_enabled=True)
    group_id = _group(acl, "user1", add_all_backend_roles=True)
    shown = acl.ok_as("user2", "GET", f"{ML}/model_groups/{group_id}")
    assert (shown["access"], shown["backend_roles"]) == ("restricted", ["IT", "HR"])
    assert shown["owner"]["name"] == "user1"
    _error(
        acl.as_user("user3", "GET", f"{ML}/model_groups/{group_id}"),
        403,
        "status_exception",
        "User doesn't have privilege to perform this operation on this model group",
    )
    # user2 shares IT: may rename, not change access; user3 may do neither.
    path = f"{ML}/model_groups/{group_id}"
    assert acl.ok_as("user2", "PUT", path, {"description": "by user2"}) == {"status": "Updated"}
    refusals = [
        ("user2", {"backend_roles": ["IT"]}, "Only owner or admin can update access control data."),
        ("user3", {"name": "x"}, "You don't have permission to update this model group."),
        (
            "user1",
            {"access_mode": "restricted", "backend_roles": ["Finance"]},
            "You don't have the backend roles specified.",
        ),
    ]
    for user, body, message in refusals:
        _error(acl.as_user(user, "PUT", path, body), 400, "illegal_argument_exception", message)
    acl.ok_as("user1", "PUT", path, {"access_mode": "private"})
    shown = acl.ok_as("user1", "GET", path)
    assert shown["access"] == "private" and "backend_roles" not in shown
    _error(
        acl.as_user("user2", "DELETE", path),
        500,
        "m_l_validation_exception",
        "User doesn't have privilege to delete this model group",
    )
    assert acl.ok_as("user1", "DELETE", path)["result"] == "deleted"


def test_group_search_admin_sees_11_and_user1_sees_7(acl: SecureCluster):
    acl.set_settings(model_access_control_enabled=True)
    tag = f"vis-{secrets.token_hex(4)}"
    plan = [
        ("user1", {"access_mode": "public"}),
        ("user1", {"access_mode": "private"}),
        ("user1", {"backend_roles": ["IT"]}),
        ("user2", {"access_mode": "public"}),
        ("user2", {}),
        ("user2", {"backend_roles": ["IT"]}),
        ("user3", {"access_mode": "public"}),
        ("user3", {"access_mode": "private"}),
        ("user3", {"add_all_backend_roles": True}),
        ("admin", {"backend_roles": ["HR"]}),
        ("admin", {"access_mode": "private"}),
    ]
    for user, fields in plan:
        _group(acl, user, description=tag, **fields)
    query = {"match": {"description": tag}}
    assert _total(acl, "admin", "model_groups", query) == (11, 11)
    assert _total(acl, "user1", "model_groups", query) == (7, 7)
    assert _total(acl, "user4", "model_groups", query) == (3, 3)  # the public ones


# Models


def test_every_model_operation_follows_its_group(acl: SecureCluster, mock: MockUpstream):
    acl.set_settings(model_access_control_enabled=True)
    connector_id = _connector(acl, mock, "admin")
    group_id = _group(acl, "user1", backend_roles=["HR"])
    model_id = _model(acl, "user1", connector_id, group_id)
    denied = "User doesn't have privilege to perform this operation on this model"
    for method, suffix in (("GET", ""), ("POST", "/_deploy"), ("DELETE", "")):
        answer = acl.as_user("user2", method, f"{ML}/models/{model_id}{suffix}")
        _error(answer, 403, "status_exception", denied)
    _error(
        acl.as_user("user2", "PUT", f"{ML}/models/{model_id}", {"description": "x"}),
        403,
        "status_exception",
        f"{denied}, model ID {model_id}",
    )
    _error(_predict(acl, "user2", model_id), 403, "status_exception", denied)
    body = {"name": "x", "function_name": "remote", "connector_id": connector_id}
    body["model_group_id"] = group_id
    _error(
        acl.as_user("user2", "POST", f"{ML}/models/_register", body),
        400,
        "illegal_argument_exception",
        "You don't have permissions to perform this operation on this model.",
    )
    assert _predict(acl, "user1", model_id).status_code == 200  # auto-deploys
    _error(
        acl.as_user("user2", "POST", f"{ML}/models/{model_id}/_undeploy"),
        400,
        "status_exception",
        f"No permission to undeploy model {model_id}",
    )
    query = {"term": {"model_group_id": group_id}}
    assert _total(acl, "user2", "models", query) == (0, 0)
    assert _total(acl, "user1", "models", query) == (1, 1)
    assert _total(acl, "admin", "models", query) == (1, 1)
    # Made public, the group opens its model to everyone at once, predict included.
    acl.ok_as("user1", "PUT", f"{ML}/model_groups/{group_id}", {"access_mode": "public"})
    assert _predict(acl, "user2", model_id).status_code == 200
    assert _total(acl, "user2", "models", query) == (1, 1)


def test_registering_without_a_group_creates_one_owned_by_the_caller(
    acl: SecureCluster, mock: MockUpstream
):
    acl.set_settings(model_access_control_enabled=True)
    connector_id = _connector(acl, mock, "admin")
    name = f"own-{secrets.token_hex(4)}"
    body = {"name": name, "function_name": "remote", "connector_id": connector_id}
    answer = acl.ok_as("user3", "POST", f"{ML}/models/_register", body)
    assert acl.task(answer["task_id"])["state"] == "COMPLETED"
    model = acl.ok_as("user3", "GET", f"{ML}/models/{answer['model_id']}")
    group = acl.ok_as("user3", "GET", f"{ML}/model_groups/{model['model_group_id']}")
    assert (group["name"], group["access"], group["owner"]["name"]) == (name, "private", "user3")
    _error(
        acl.as_user("user1", "POST", f"{ML}/models/_register", body),
        400,
        "illegal_argument_exception",
        f"The name {{{name}}} you provided is unavailable because it is used by another model "
        f"group with id {{{model['model_group_id']}}} to which you do not have access. Please "
        "provide a different name.",
    )


# Controllers (user-level rate limits)


def test_user_rate_limiter_throttles_one_user_only(acl: SecureCluster, mock: MockUpstream):
    connector_id = _connector(acl, mock, "admin")
    model_id = _model(acl, "admin", connector_id, _group(acl, "admin"))
    path = f"{ML}/controllers/{model_id}"
    limits = {"user_rate_limiter": {"user1": {"limit": 1, "unit": "MINUTES"}}}
    assert acl.ok_as("admin", "POST", path, limits) == {"model_id": model_id, "status": "CREATED"}
    assert acl.ok_as("user2", "GET", path) == {
        "model_id": model_id,
        "user_rate_limiter": {"user1": {"limit": "1", "unit": "MINUTES"}},
    }
    assert acl.ok_as("admin", "GET", f"{ML}/models/{model_id}")["is_controller_enabled"] is True
    assert _predict(acl, "user1", model_id).status_code == 200
    _error(
        _predict(acl, "user1", model_id),
        429,
        "status_exception",
        "Request is throttled at user level. If you think there's an issue, please contact "
        "your cluster admin.",
    )
    for _ in range(3):  # user2 has no limit of their own
        assert _predict(acl, "user2", model_id).status_code == 200
    update = {"user_rate_limiter": {"user2": {"limit": 1, "unit": "HOURS"}}}
    assert acl.ok_as("admin", "PUT", path, update)["result"] == "updated"
    assert acl.ok_as("admin", "GET", path)["user_rate_limiter"]["user2"]["unit"] == "HOURS"
    assert _predict(acl, "user2", model_id).status_code == 200
    assert _predict(acl, "user2", model_id).status_code == 429
    assert acl.ok_as("admin", "DELETE", path)["result"] == "deleted"
    assert acl.ok_as("admin", "GET", f"{ML}/models/{model_id}")["is_controller_enabled"] is False
    assert _predict(acl, "user1", model_id).status_code == 200
    _error(
        acl.as_user("admin", "GET", path),
        404,
        "status_exception",
        "Failed to find model controller with the provided model ID",
    )


def test_controllers_follow_model_access_and_report_missing_models(
    acl: SecureCluster, mock: MockUpstream
):
    acl.set_settings(model_access_control_enabled=True)
    connector_id = _connector(acl, mock, "admin")
    model_id = _model(acl, "user1", connector_id, _group(acl, "user1"))
    limits = {"user_rate_limiter": {"user2": {"limit": 1, "unit": "MINUTES"}}}
    _error(
        acl.as_user("user2", "POST", f"{ML}/controllers/{model_id}", limits),
        403,
        "status_exception",
        "User doesn't have privilege to perform this operation on this model controller. "
        f"Model ID: {model_id}",
    )
    _error(
        acl.as_user("admin", "POST", f"{ML}/controllers/nosuchmodel", limits),
        404,
        "status_exception",
        "Failed to find model to create the corresponding model controller with the provided "
        "model ID",
    )
    _error(
        acl.as_user("user1", "PUT", f"{ML}/controllers/{model_id}", limits),
        409,
        "status_exception",
        "Model controller haven't been created for the model. Consider calling create model "
        f"controller api instead. Model ID: {model_id}",
    )


def test_moving_a_model_needs_access_to_the_target_group_and_the_setting_gates_all(
    acl: SecureCluster, mock: MockUpstream
):
    acl.set_settings(model_access_control_enabled=True)
    connector_id = _connector(acl, mock, "admin")
    mine = _group(acl, "user2", backend_roles=["IT"])
    theirs = _group(acl, "user3")  # private to user3
    model_id = _model(acl, "user2", connector_id, mine)
    _error(
        acl.as_user("user1", "PUT", f"{ML}/models/{model_id}", {"model_group_id": theirs}),
        403,
        "status_exception",
        "User Doesn't have privilege to re-link this model to the target model group due to no "
        f"access to the target model group with model group ID {theirs}",
    )
    assert acl.ok_as("user3", "GET", f"{ML}/model_groups/{theirs}")["access"] == "private"
    # With the setting off, the same users reach everything (security stays on).
    acl.set_settings(model_access_control_enabled=False)
    acl.ok_as("user4", "GET", f"{ML}/models/{model_id}")
    acl.ok_as("user4", "GET", f"{ML}/model_groups/{theirs}")
    acl.ok_as("user1", "PUT", f"{ML}/models/{model_id}", {"model_group_id": theirs})
    assert acl.ok_as("user1", "GET", f"{ML}/models/{model_id}")["model_group_id"] == theirs

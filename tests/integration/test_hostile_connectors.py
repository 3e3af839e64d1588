"""Hostile connector definitions, settings and predict parameters over real sockets.

Each is a 400 in the OpenSearch envelope (never a 500), and nothing stalls the API meanwhile.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.integration.cluster import LOOPBACK_TRUSTED, Cluster, MockUpstream, connector_body

REGEX = "plugins.ml_commons.trusted_connector_endpoints_regex"
SECRET = "sk-test-secret-value"
UNTRUSTED = "Connector URL is not matching the trusted connector endpoint regex"
CONTROL = "Header value contains invalid control character"
USERINFO = "Connector URL must not contain user info"
URI_ERROR = "Encountered error when trying to create uri from endpoint in ml connector"
# Accepted: a backtracking engine takes exponential or high-polynomial time on these, RE2 not.
OVERLAPPING = [
    r"^(a|aa)+$",
    r"^(a|a?)+$",
    r"^(?:a|ab|abc)*c$",
    "^" + ".*" * 60 + "x$",
    "^" + ".*a" * 12 + "$",
]


def _reason_400(response: requests.Response) -> str:
    assert response.status_code == 400, response.text[:500]
    body = response.json()
    assert body["status"] == 400 and body["error"]["root_cause"], body
    assert SECRET not in response.text
    return str(body["error"]["reason"])


@pytest.fixture
def hostile_gw(gw: Cluster) -> Iterator[Cluster]:
    yield gw
    gw.set_settings(trusted_connector_endpoints_regex=[LOOPBACK_TRUSTED])


def _put_regex(gw: Cluster, value: Any) -> requests.Response:
    return gw.call("PUT", "/_cluster/settings", {"persistent": {REGEX: value}})


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (["^(a+)+$"], "Regex pattern contains nested quantifiers or backreferences"),
        (["(a)\\1"], "Regex pattern contains nested quantifiers or backreferences"),
        (["^(?=.*a)http://.*$"], "Invalid regex pattern: ^(?=.*a)http://.*$"),
        (["(?=a)+"], "Invalid regex pattern: (?=a)+"),
        (["(?<=a)b"], "Invalid regex pattern: (?<=a)b"),
        (["(?>a|ab)c"], "Invalid regex pattern: (?>a|ab)c"),
        ([r"^[\s\S]{0,999}a[\s\S]{0,999}b$"], "Regex pattern too complex"),
        (["a" * 257], "Regex pattern too long (max 256 chars)"),
        ([None], "Failed to parse value [null] for setting [" + REGEX + "]"),
        ([LOOPBACK_TRUSTED, 5], "Failed to parse value [5]"),
        ([True], "Failed to parse value [true]"),
        ([["^a$"]], 'Failed to parse value [["^a$"]]'),
        ([{"a": "^b$"}], 'Failed to parse value [{"a":"^b$"}]'),
        (7, "every item of this list must be a string"),
    ],
)
def test_hostile_regex_settings_are_refused_and_change_nothing(
    hostile_gw: Cluster, value: Any, reason: str
) -> None:
    assert reason in _reason_400(_put_regex(hostile_gw, value))
    flat = hostile_gw.ok("GET", "/_cluster/settings", flat_settings="true")
    assert flat["persistent"][REGEX] == [LOOPBACK_TRUSTED]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("only_run_on_ml_node", ["true"]),
        ("only_run_on_ml_node", {"a": True}),
        ("max_model_on_node", 2.5),
        ("max_model_on_node", "abc"),
        ("max_model_on_node", " 5"),
        ("max_model_on_node", 10_001),
        ("max_json_size", "1_000"),
        ("task_dispatch_policy", ["least_load"]),
    ],
)
def test_settings_of_the_wrong_kind_are_refused(gw: Cluster, name: str, value: Any) -> None:
    body = {"persistent": {f"plugins.ml_commons.{name}": value}}
    _reason_400(gw.call("PUT", "/_cluster/settings", body))


def test_api_answers_promptly_while_hostile_patterns_are_tried(hostile_gw: Cluster) -> None:
    hostile_gw.ok("PUT", "/_cluster/settings", {"persistent": {REGEX: OVERLAPPING}})
    urls = ["a" * 40 + "!", "a" * 5_000 + "!", "x" * 30 + "y", "abc" * 40 + "!"]
    answers: list[tuple[int, str, float]] = []

    def create(url: str) -> None:
        action = {**connector_body()["actions"][0], "url": url}
        started = time.monotonic()
        got = hostile_gw.call(
            "POST", "/_plugins/_ml/connectors/_create", connector_body(actions=[action])
        )
        answers.append((got.status_code, got.text, time.monotonic() - started))

    workers = [threading.Thread(target=create, args=(url,)) for url in urls * 2]
    for worker in workers:
        worker.start()
    # With a backtracking engine the first URL alone takes minutes and holds the GIL.
    while any(worker.is_alive() for worker in workers):
        assert requests.get(hostile_gw.url + "/", timeout=1).status_code == 200
    for worker in workers:
        worker.join()
    assert len(answers) == len(workers)
    for status, text, seconds in answers:
        assert status == 400 and UNTRUSTED in text, text[:300]
        assert seconds < 5


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"headers": {"X:Injected": "v"}}, "is not a valid HTTP header name"),
        ({"headers": {"X-A\r\nX-B": "v"}}, "is not a valid HTTP header name"),
        ({"headers": {"": "v"}}, "is not a valid HTTP header name"),
        ({"headers": {"X-A": "v\r\nX-Evil: 1"}}, CONTROL),
        ({"headers": {"X-A": "v\u0000"}}, CONTROL),
        ({"headers": {"Transfer-Encoding": "chunked"}}, "the gateway's HTTP client sets it"),
        ({"url": "http://u:p@127.0.0.1:9/v1"}, USERINFO),
        ({"url": "http://127.0.0.1:9@evil.example/v1"}, USERINFO),
        ({"url": "http://127.0.0.1:9/v1 x"}, URI_ERROR),
        ({"request_body": '{"p": "caf\u00e9"}', "charset": "ascii"}, "cannot encode"),
        ({"charset": "no-such-charset"}, "Unsupported charset: no-such-charset"),
        ({"charset": "rot13"}, "Unsupported charset: rot13"),
    ],
)
def test_unsendable_connectors_are_refused_at_create(
    gw: Cluster, change: dict[str, Any], reason: str
) -> None:
    charset = change.pop("charset", None)
    action = {**connector_body()["actions"][0], **change}
    parameters = {"endpoint": "127.0.0.1:9", "model": "m"}
    if charset is not None:
        parameters["charset"] = charset
    body = connector_body(actions=[action], parameters=parameters, credential={"k": SECRET})
    answer = gw.call("POST", "/_plugins/_ml/connectors/_create", body)
    assert reason in _reason_400(answer)


@pytest.mark.parametrize(
    "change",
    [
        {"credential": {"openAI_key": None}},
        {"credential": {"openAI_key": {"nested": SECRET}}},
        {"version": {"v": 1}},
        {"client_config": {"read_timeout": 2**31}},
        {"client_config": {"connection_timeout": 10**40}},
    ],
)
def test_values_that_would_be_stored_wrong_are_refused(gw: Cluster, change: dict[str, Any]) -> None:
    _reason_400(gw.call("POST", "/_plugins/_ml/connectors/_create", connector_body(**change)))


@pytest.fixture(scope="module")
def tenant_model(cluster: Cluster, mock: MockUpstream) -> str:
    """A deployed chat model whose URL and X-Tenant header come from parameters."""
    cluster.set_settings(
        trusted_connector_endpoints_regex=[LOOPBACK_TRUSTED], connector__private_ip_enabled=True
    )
    action = {
        **connector_body()["actions"][0],
        "headers": {
            "Authorization": "Bearer ${credential.openAI_key}",
            "X-Tenant": "${parameters.tenant}",
        },
    }
    connector_id = cluster.create_connector(
        parameters={"endpoint": mock.host, "model": "m", "tenant": "t"}, actions=[action]
    )
    model_id = cluster.register(connector_id, f"hostile-{uuid.uuid4().hex[:6]}")
    cluster.deploy(model_id)
    return model_id


HELLO = [{"role": "user", "content": "hello"}]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"charset": "no-such"}, "Unsupported charset: no-such"),
        ({"charset": "base64"}, "Unsupported charset: base64"),
        (
            {"charset": "ascii", "messages": [{"role": "user", "content": "caf\u00e9"}]},
            "cannot encode",
        ),
        ({"endpoint": "127.0.0.1:1@evil.example"}, USERINFO),
        ({"endpoint": "127.0.0.1:1\\@evil.example"}, USERINFO),
        ({"endpoint": "127.0.0.1:99999"}, URI_ERROR),
        ({"endpoint": "[::1"}, URI_ERROR),
        ({"endpoint": "a..b"}, URI_ERROR),
        ({"endpoint": "127.0.0.1:1/" + "a" * 9_000}, "Connector URL is longer than 8192"),
        ({"tenant": "t\r\nX-Evil: 1"}, CONTROL),
        ({"tenant": "t\u0000"}, CONTROL),
        ({"tenant": "v" * 9_000}, "is larger than 8192 bytes"),
        ({"messages": "[" * 50_000 + "]" * 50_000}, "Invalid payload"),
    ],
)
def test_hostile_predict_parameters_are_400_from_the_node(
    gw: Cluster, tenant_model: str, params: dict[str, Any], reason: str
) -> None:
    answer = gw.predict(tenant_model, {"messages": HELLO, **params})
    assert reason in _reason_400(answer)


def test_the_node_keeps_serving_after_hostile_predicts(gw: Cluster, tenant_model: str) -> None:
    for params in ({"charset": "rot13"}, {"tenant": "\r\n"}, {"endpoint": "[::1"}):
        _reason_400(gw.predict(tenant_model, {"messages": HELLO, **params}))
    answer = gw.predict(tenant_model, {"messages": HELLO})
    assert answer.status_code == 200 and "Echo: hello" in answer.text, answer.text[:300]

"""The predict fast path (api/fast_predict.py) answers exactly as the Flask route does.

Each request is sent twice: as it is (a plain predict: the fast path serves it) and with a
query string (Flask's route serves it). Status, body and headers must be the same, for
answers and for every kind of refusal. An in-process app then shows which path served what.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import pytest
import requests

from api import create_app
from api.fast_predict import PredictFastPath
from api.limits import MAX_CONTENT_LENGTH
from common.json_depth import MAX_DEPTH
from tests.integration.cluster import Cluster, MockUpstream, wait_for

ML = "/_plugins/_ml"
VARYING = {"date", "content-length"}  # content-length is compared through the body


def _echo_model(gw: Cluster, mock: MockUpstream) -> str:
    connector_id = gw.create_connector(
        parameters={"endpoint": mock.host},
        actions=[
            {
                "action_type": "predict",
                "method": "POST",
                "url": "http://${parameters.endpoint}/post",
                "request_body": '{ "prompt": "${parameters.prompt}" }',
            }
        ],
    )
    model_id = gw.register(connector_id, f"fast-{uuid.uuid4().hex[:8]}")
    gw.deploy(model_id)
    return model_id


def _both(gw: Cluster, path: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
    """The answers of the fast path and of Flask's route to the same request."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    fast = requests.post(gw.url + path, data=body, headers=sent, timeout=30)
    flask = requests.post(gw.url + path + "?via=flask", data=body, headers=sent, timeout=30)
    return fast, flask


def _same(fast: requests.Response, flask: requests.Response, *, exact_body: bool = True) -> None:
    assert fast.status_code == flask.status_code, (fast.text, flask.text)
    if exact_body:
        assert fast.content == flask.content
    named = {k.lower(): v for k, v in fast.headers.items() if k.lower() not in VARYING}
    assert named == {k.lower(): v for k, v in flask.headers.items() if k.lower() not in VARYING}


def test_an_answer_is_the_same_on_both_paths(gw: Cluster, mock: MockUpstream) -> None:
    model_id = _echo_model(gw, mock)
    body = json.dumps({"parameters": {"prompt": 'Say "hi" 😀'}}).encode()
    fast, flask = _both(gw, f"{ML}/models/{model_id}/_predict", body)
    assert fast.status_code == 200, fast.text
    _same(fast, flask)
    output = fast.json()["inference_results"][0]["output"][0]["dataAsMap"]
    assert output["json"] == {"prompt": 'Say "hi" 😀'}
    assert fast.headers["X-Modelgate-Node-Role"] in ("ml", "data")
    assert fast.headers["X-Modelgate-Node"] == flask.headers["X-Modelgate-Node"] != ""


DEEP = b"[" * (MAX_DEPTH + 2) + b"]" * (MAX_DEPTH + 2)
# (More than 100 header fields never reach the app: granian answers them a bare 431 itself.)
REFUSALS: list[tuple[str, bytes, dict[str, str]]] = [
    ("truncated JSON", b'{"parameters":', {}),
    ("not JSON", b"parameters=1", {}),
    ("not an object", b"[1, 2]", {}),
    ("a string parameters", b'{"parameters": "x"}', {}),
    ("an unknown field", b'{"parameters": {}, "bogus": 1}', {}),
    ("too deep", b'{"parameters": {"a": ' + DEEP + b"}}", {}),
    ("invalid UTF-8", b'{"parameters": {"a": "\xff\xfe"}}', {}),
    ("a header field too long", b'{"parameters": {}}', {"X-Long": "v" * 9000}),
]  # fmt: skip


@pytest.mark.parametrize(("what", "body", "headers"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refusal_is_the_same_on_both_paths(
    gw: Cluster, mock: MockUpstream, what: str, body: bytes, headers: dict[str, str]
) -> None:
    model_id = _any_model(gw, mock)
    fast, flask = _both(gw, f"{ML}/models/{model_id}/_predict", body, headers)
    assert 400 <= fast.status_code < 500, fast.text
    assert fast.json()["status"] == fast.status_code
    _same(fast, flask)


_MODELS: dict[str, str] = {}


def _any_model(gw: Cluster, mock: MockUpstream) -> str:
    key = gw.settings.key_prefix
    if key not in _MODELS:
        _MODELS[key] = _echo_model(gw, mock)
    return _MODELS[key]


def test_model_states_refuse_alike(gw: Cluster, mock: MockUpstream) -> None:
    body = b'{"parameters": {"prompt": "p"}}'
    _same(*_both(gw, f"{ML}/models/no-such-model/_predict", body))
    connector_id = gw.create_connector(parameters={"endpoint": mock.host})
    undeployed = gw.register(connector_id, f"idle-{uuid.uuid4().hex[:8]}")
    gw.set_settings(model_auto_deploy__enable=False)
    fast, flask = _both(gw, f"{ML}/models/{undeployed}/_predict", body)
    assert fast.status_code == 400, fast.text
    _same(fast, flask)
    gw.set_settings(remote_inference__enabled=False)
    fast, flask = _both(gw, f"{ML}/models/{undeployed}/_predict", body)
    assert fast.status_code == 400, fast.text
    assert "Remote Inference is currently disabled" in fast.text
    _same(fast, flask)


def test_a_body_announced_too_large_is_refused_unread_on_both_paths(gw: Cluster) -> None:
    answers = []
    for query in ("", "?via=flask"):
        conn = http.client.HTTPConnection("127.0.0.1", gw.settings.port, timeout=10)
        conn.putrequest("POST", f"{ML}/models/any/_predict{query}")
        conn.putheader("Content-Length", str(MAX_CONTENT_LENGTH + 1))
        conn.endheaders()
        answer = conn.getresponse()
        answers.append((answer.status, answer.read()))
        conn.close()
    assert answers[0][0] == 413
    assert answers[0] == answers[1]


def test_only_plain_predicts_take_the_fast_path(gw: Cluster, mock: MockUpstream) -> None:
    app = create_app(gw.settings)
    fast_path = app.wsgi_app
    assert isinstance(fast_path, PredictFastPath)
    to_flask: list[str] = []
    flask_app = fast_path._flask

    def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        to_flask.append(environ["PATH_INFO"] + "?" + environ.get("QUERY_STRING", ""))
        return flask_app(environ, start_response)

    fast_path._flask = counted
    client = app.test_client()
    model_id = _any_model(gw, mock)
    path = f"{ML}/models/{model_id}/_predict"
    body = {"parameters": {"prompt": "p"}}
    wait_for(lambda: client.post(path, json=body).status_code == 200, 10, "a predict")
    assert to_flask == []  # answered, and never by Flask
    assert client.post(path, json={"parameters": "x"}).status_code == 400
    assert to_flask == []
    for other in (path + "?pretty", path + "/", f"{ML}/_predict/remote/{model_id}"):
        assert client.post(other, json=body).status_code == 200
    assert client.get(path).status_code == 405
    assert len(to_flask) == 4

"""Hostile ids and bodies: no id reaches anything but a record of its kind; deep JSON is a 400."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from tests.integration.cluster import Cluster, MockUpstream

KINDS = ("connectors", "models", "model_groups", "tasks")
# Names the Redis layout keeps beside records, ids that would reach other keys, and junk.
HOSTILE_IDS = ("ids", "names", "active", "x:y", "ids:x", ":", "a" * 300, "*", "ids ", "é")


def _is_envelope(response: requests.Response, status: int) -> bool:
    body = response.json()
    return (
        response.status_code == status
        and body["status"] == status
        and bool(body["error"]["root_cause"])
        and isinstance(body["error"]["reason"], str)
    )


def _search_ids(gw: Cluster, kind: str) -> set[str]:
    hits = gw.ok("POST", f"/_plugins/_ml/{kind}/_search", {"size": 10000})["hits"]["hits"]
    return {hit["_id"] for hit in hits}


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_hostile_ids_find_nothing_and_delete_nothing(gw: Cluster, hostile: str) -> None:
    connector_id = gw.create_connector(name=f"keep-{uuid.uuid4().hex[:6]}")
    before = {kind: _search_ids(gw, kind) for kind in KINDS}
    path_id = quote(hostile, safe="")
    for kind in KINDS:
        got = gw.call("GET", f"/_plugins/_ml/{kind}/{path_id}")
        assert _is_envelope(got, 404), (kind, got.status_code, got.text[:200])
        deleted = gw.call("DELETE", f"/_plugins/_ml/{kind}/{path_id}")
        assert deleted.status_code in (200, 404), deleted.text[:200]
        assert deleted.json().get("result") != "deleted", (kind, deleted.text[:200])
    assert {kind: _search_ids(gw, kind) for kind in KINDS} == before
    assert gw.ok("GET", f"/_plugins/_ml/connectors/{connector_id}")["name"].startswith("keep-")


@pytest.mark.parametrize("field", ["connector_id", "model_group_id"])
@pytest.mark.parametrize("hostile", ["ids", "names", "active", "a:b"])
def test_hostile_ids_in_a_register_body_are_not_found(
    gw: Cluster, mock: MockUpstream, field: str, hostile: str
) -> None:
    body = {"name": f"h-{uuid.uuid4().hex[:6]}", "function_name": "remote", field: hostile}
    if field == "model_group_id":
        body["connector_id"] = gw.create_connector(parameters={"endpoint": mock.host})
    answer = gw.call("POST", "/_plugins/_ml/models/_register", body)
    assert _is_envelope(answer, 404), answer.text[:300]
    assert hostile in answer.json()["error"]["reason"]


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", [101, 990, 5000, 200_000])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/_plugins/_ml/connectors/_create"),
        ("POST", "/_plugins/_ml/models/_register"),
        ("POST", "/_plugins/_ml/model_groups/_register"),
        ("PUT", "/_cluster/settings"),
        ("POST", "/_plugins/_ml/models/_search"),
        ("POST", "/_plugins/_ml/models/_undeploy"),
    ],
)
def test_deep_json_is_a_parse_error_everywhere(gw: Cluster, depth: int, method: str, path: str):
    answer = requests.request(
        method,
        gw.url + path,
        data=_nested(depth),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert _is_envelope(answer, 400), answer.text[:300]
    assert answer.json()["error"]["type"] == "parse_exception"


def test_deep_predict_parameters_are_refused_and_the_node_keeps_serving(
    gw: Cluster, mock: MockUpstream
) -> None:
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    model_id = gw.register(connector_id, f"deep-{uuid.uuid4().hex[:6]}")
    gw.deploy(model_id)
    deep = '{"parameters":{"messages":' + "[" * 500 + "]" * 500 + "}}"
    answer = requests.post(
        f"{gw.url}/_plugins/_ml/models/{model_id}/_predict",
        data=deep,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert _is_envelope(answer, 400), answer.text[:300]
    ok = gw.predict(model_id, {"messages": [{"role": "user", "content": "still here"}]})
    assert ok.status_code == 200 and "Echo: still here" in ok.text


@pytest.mark.parametrize(
    "raw", [b"{", b'{"a":}', b"[1,2]", b'"text"', b"\xff\xfe{}", b'{"a": NaN}', b"nul"]
)
def test_malformed_bodies_are_parse_errors(gw: Cluster, raw: bytes) -> None:
    answer = requests.post(
        gw.url + "/_plugins/_ml/connectors/_create",
        data=raw,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert _is_envelope(answer, 400), answer.text[:300]
    assert json.loads(answer.text)["error"]["type"] == "parse_exception"


# Bodies over http.max_content_length (100 MiB)

LIMIT = 100 * 1024 * 1024


def _raw_exchange(gw: Cluster, head: bytes, send_body: Any) -> tuple[int, dict[str, Any]]:
    """Send a request head and a body (from a thread), return the status and the JSON answer."""
    address = urlsplit(gw.url)
    with socket.create_connection((address.hostname or "", address.port or 80), timeout=20) as s:
        s.sendall(head)
        sender = threading.Thread(target=send_body, args=(s,), daemon=True)
        sender.start()
        reader = s.makefile("rb")
        status = int(reader.readline().split()[1])
        length = 0
        while (line := reader.readline().strip()) != b"":
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, json.loads(reader.read(length))


def _swallow(send: Any) -> None:
    try:
        send()
    except OSError:
        pass  # the server answered and closed before the whole body went: the point


@pytest.mark.parametrize("path", ["/_plugins/_ml/connectors/_create", "/no/such/route"])
def test_a_body_announced_over_the_limit_is_refused_unread(gw: Cluster, path: str) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {LIMIT + 1}\r\n\r\n"
    ).encode()
    sent: list[int] = []

    def trickle(s: socket.socket) -> None:
        # Only a few KB of the announced 100 MiB: an answer proves the body was not awaited.
        def send() -> None:
            for _ in range(4):
                s.sendall(b" " * 1024)
                sent.append(1024)

        _swallow(send)

    status, body = _raw_exchange(gw, head, trickle)
    assert status == 413 and body["status"] == 413
    assert "max_content_length" in body["error"]["reason"]
    assert gw.call("GET", "/").status_code == 200


def test_a_chunked_body_over_the_limit_is_cut_off(gw: Cluster) -> None:
    head = (
        b"POST /_plugins/_ml/connectors/_create HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b" " * (1024 * 1024)
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"

    def flood(s: socket.socket) -> None:
        def send() -> None:
            for _ in range(LIMIT // len(chunk) + 8):
                s.sendall(framed)
            s.sendall(b"0\r\n\r\n")

        _swallow(send)

    status, body = _raw_exchange(gw, head, flood)
    assert status == 413 and body["status"] == 413, body
    assert gw.call("GET", "/").status_code == 200


def test_a_body_under_the_limit_is_read(gw: Cluster) -> None:
    # 2 MiB of spaces around a real body: the size alone does not refuse it.
    body = b" " * (2 * 1024 * 1024) + json.dumps({"name": f"big-{uuid.uuid4().hex[:6]}"}).encode()
    answer = requests.post(
        gw.url + "/_plugins/_ml/model_groups/_register",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def test_a_chunked_body_under_the_limit_is_read(gw: Cluster) -> None:
    name = f"chunked-{uuid.uuid4().hex[:6]}"
    parts = [b'{"name": ', json.dumps(name).encode(), b"}"]
    answer = requests.post(  # a generator body goes out chunked, with no Content-Length
        gw.url + "/_plugins/_ml/model_groups/_register",
        data=iter(parts),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    group = gw.ok("GET", f"/_plugins/_ml/model_groups/{answer.json()['model_group_id']}")
    assert group["name"] == name

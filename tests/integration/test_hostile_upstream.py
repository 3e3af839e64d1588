"""What a hostile upstream sends can neither crash, stall, bloat nor duplicate a predict.

One cluster of its own (one ML node, a 5 s predict deadline so a never-ending body ends
fast) against the mock upstream's /hostile/ routes; /tally/<name> counts what arrived.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import pytest
import requests

from tests.integration.cluster import Cluster, MockUpstream
from tools.embedded_redis import EmbeddedRedis

DEADLINE_S = 5.0
SECRET = "sk-hostile-secret-value"
ANY_HTTP = r"^https?://.*$"
NODE = "hostile-ml"
ECHO_CHARS = 2048  # workers/remote/http.py: upstream text quoted in a reason


@pytest.fixture(scope="module")
def hc(
    redis_server: EmbeddedRedis, queue_server: EmbeddedRedis, tmp_root: Path
) -> Iterator[Cluster]:
    running = Cluster.create(redis_server.url, tmp_root, "hostile", queue_server.url)
    running.settings = replace(running.settings, predict_timeout_s=DEADLINE_S)
    try:
        running.start_api()
        running.start_node("ml", NODE)
        running.set_settings(
            trusted_connector_endpoints_regex=[ANY_HTTP], connector__private_ip_enabled=True
        )
        yield running
    finally:
        running.stop()


def model(hc: Cluster, mock: MockUpstream, *, url: str | None = None, **connector: Any) -> str:
    """A model whose URL path is a predict parameter, so one model reaches every route."""
    action = {
        "action_type": "predict",
        "method": connector.pop("method", "POST"),
        "url": url or "http://${parameters.endpoint}${parameters.path}",
        "headers": {"Authorization": "Bearer ${credential.api_key}"},
        "request_body": '{ "q": "${parameters.q:-hi}" }',
    }
    connector_id = hc.create_connector(
        parameters={"endpoint": mock.host},
        credential={"api_key": SECRET},
        actions=[action],
        **connector,
    )
    return hc.register(connector_id, f"hostile-{uuid.uuid4().hex[:8]}", deploy=True)


@pytest.fixture(scope="module")
def plain(hc: Cluster, mock: MockUpstream) -> str:
    return model(hc, mock)


def ask(hc: Cluster, model_id: str, path: str, **params: Any) -> requests.Response:
    return hc.predict(model_id, {"path": path, **params})


def error_of(response: requests.Response, status: int) -> str:
    """The envelope's reason, after checking the envelope and that nothing leaked."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    assert body["error"]["root_cause"][0]["reason"] == body["error"]["reason"]
    assert body["error"]["reason"] != "Internal error on worker node"
    assert SECRET not in response.text
    return str(body["error"]["reason"])


def tally(mock: MockUpstream, name: str) -> int:
    return int(requests.get(f"{mock.base}/tally/{name}", timeout=5).json()["count"])


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def node_rss(hc: Cluster) -> int:
    node = next(n for n in hc.store.nodes.all() if n.name == NODE)
    return int(psutil.Process(node.pid).memory_info().rss)


# 1. Size limits ---------------------------------------------------------------------------


@pytest.fixture
def small_cap(hc: Cluster) -> Iterator[int]:
    hc.set_settings(max_json_size=1_000_000)
    yield 1_000_000
    hc.set_settings(max_json_size=None)


@pytest.mark.parametrize(
    "path",
    [
        "/hostile/big?bytes=5000000&kind=string",
        "/hostile/big?bytes=5000000&kind=floats",
        "/hostile/big?bytes=1000100&kind=text",
        "/hostile/gzip?mib=512",  # inflates to 512 MiB from about 0.5 MiB on the wire
    ],
)
def test_answers_over_max_json_size_are_refused(
    hc: Cluster, mock: MockUpstream, plain: str, small_cap: int, path: str
) -> None:
    reason = error_of(ask(hc, plain, path), 502)
    assert reason == (
        "Remote service response is larger than plugins.ml_commons.max_json_size "
        f"({small_cap} bytes)"
    )


def test_answers_within_the_cap_or_uncapped_are_served(
    hc: Cluster, mock: MockUpstream, plain: str, small_cap: int
) -> None:
    within = ask(hc, plain, "/hostile/big?bytes=900000&kind=string")
    assert within.status_code == 200, within.text
    data = within.json()["inference_results"][0]["output"][0]["dataAsMap"]["data"]
    assert len(data) == 900000 - len('{"data": ""}')
    hc.set_settings(max_json_size=-1)
    assert ask(hc, plain, "/hostile/big?bytes=3000000&kind=floats").status_code == 200


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/hostile/big?bytes=20000000&kind=text&status=500", 500),
        ("/hostile/big?bytes=20000000&kind=string&status=404", 404),
        ("/hostile/big?bytes=20000000&kind=string&status=302", 502),
        ("/hostile/big?bytes=20000000&kind=string&status=999", 502),
    ],
)
def test_error_pages_are_quoted_briefly(
    hc: Cluster, mock: MockUpstream, plain: str, path: str, status: int
) -> None:
    response = ask(hc, plain, path)
    reason = error_of(response, status)
    assert reason.endswith("...") and len(reason) < ECHO_CHARS + 100
    assert len(response.content) < 3 * ECHO_CHARS


def test_node_memory_stays_bounded_by_large_answers(
    hc: Cluster, mock: MockUpstream, plain: str
) -> None:
    assert ask(hc, plain, "/post").status_code == 200  # warm: model loaded, pools made
    before = node_rss(hc)
    bomb = ask(hc, plain, "/hostile/gzip?mib=1024")  # 1 GiB inflated, default 100 MB cap
    error_of(bomb, 502)
    for _ in range(2):
        big = ask(hc, plain, "/hostile/big?bytes=20000000&kind=floats")
        assert big.status_code == 200, big.text[:200]
    after = node_rss(hc)
    mib = 1024 * 1024
    assert after - before < 150 * mib, f"node RSS grew from {before // mib} to {after // mib} MiB"


# 2. Statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/hostile/status/999", 502, 'invalid HTTP status 999: {"status": 999}'),
        ("/hostile/status/600", 502, 'invalid HTTP status 600: {"status": 600}'),
        ("/hostile/status/101", 502, "invalid HTTP status 101"),
        ("/hostile/status/42", 502, "Remote service sent an invalid HTTP response: "),
        ("/hostile/status/1000", 502, "Remote service sent an invalid HTTP response: "),
        (
            "/hostile/status/302?location=http://169.254.169.254/latest/",
            502,
            'redirect status 302, which is not followed: {"status": 302}',
        ),
        ("/hostile/status/301?location=/post", 502, "redirect status 301, which is not followed"),
        ("/hostile/status/418", 418, 'Error from remote service: {"status": 418}'),
        ("/hostile/status/599", 599, 'Error from remote service: {"status": 599}'),
    ],
)
def test_statuses_are_valid_http_and_name_the_upstream(
    hc: Cluster, mock: MockUpstream, plain: str, path: str, status: int, reason: str
) -> None:
    name = uuid.uuid4().hex
    sep = "&" if "?" in path else "?"
    response = ask(hc, plain, f"{path}{sep}tally={name}")
    assert reason in error_of(response, status)
    assert "Location" not in response.headers
    assert tally(mock, name) == 1  # a redirect is not followed


# 3. Hosts -----------------------------------------------------------------------------------

DISGUISED = ["127.1", "2130706433", "0x7f.1", "0177.0.0.1", "127.0.0.1."]
PRIVATE = [
    "[::127.0.0.1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]",
    "0.0.0.0",
    "[::]",
    "localhost.",
]


@pytest.mark.parametrize("host", DISGUISED)
def test_disguised_ipv4_hosts_are_a_400_at_create_and_at_predict(
    hc: Cluster, mock: MockUpstream, plain: str, host: str
) -> None:
    expected = f"Remote inference host is not a canonical IP address: {host.lower()}"
    at_predict = ask(hc, plain, "/post", endpoint=f"{host}:{mock.port}")
    assert error_of(at_predict, 400).startswith(expected)
    body = {
        "name": "c",
        "version": 1,
        "protocol": "http",
        "parameters": {},
        "credential": {"k": "v"},
        "actions": [
            {"action_type": "predict", "method": "POST", "url": f"http://{host}:{mock.port}/"}
        ],
    }
    at_create = hc.call("POST", "/_plugins/_ml/connectors/_create", body)
    assert error_of(at_create, 400).startswith(expected)


@pytest.fixture
def private_refused(hc: Cluster) -> Iterator[None]:
    hc.set_settings(connector__private_ip_enabled=False)
    yield
    hc.set_settings(connector__private_ip_enabled=True)


@pytest.mark.parametrize("host", PRIVATE)
def test_private_hosts_in_any_spelling_are_refused(
    hc: Cluster, mock: MockUpstream, plain: str, private_refused: None, host: str
) -> None:
    substituted = ask(hc, plain, "/post", endpoint=f"{host}:{mock.port}")
    reason = "Remote inference host name has private ip address: "
    assert error_of(substituted, 400).startswith(reason)
    literal = model(hc, mock, url=f"http://{host}:{mock.port}/post")
    assert error_of(hc.predict(literal, {}), 400).startswith(reason)


# 4-5. Retries and duplicates -------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "most"),
    [
        # 1 s of retry budget with no backoff: the floor (10 ms doubling to 200 ms) allows ~9.
        ({"retry_timeout_seconds": 1}, 30),
        # A budget past the deadline: retries stop before it, with the upstream's answer.
        ({"retry_timeout_seconds": 600, "retry_backoff_policy": "exponential_full_jitter"}, 60),
    ],
)
def test_unbounded_zero_backoff_retries_are_floored_and_stop_in_time(
    hc: Cluster, mock: MockUpstream, config: dict[str, Any], most: int
) -> None:
    client_config = {"max_retry_times": -1, "retry_backoff_millis": 0, **config}
    retried = model(hc, mock, client_config=client_config)
    name = uuid.uuid4().hex
    response = ask(hc, retried, f"/hostile/status/503?tally={name}")
    # The upstream's own answer, not the API's 504: the retries ended before the deadline.
    assert error_of(response, 503) == 'Error from remote service: {"status": 503}'
    assert 3 <= tally(mock, name) <= most


@pytest.mark.parametrize(
    ("method", "path", "client_config", "hits"),
    [
        ("POST", "/post", None, 1),
        ("POST", "/hostile/status/503", None, 1),
        ("POST", "/hostile/status/503", {"max_retry_times": 2, "retry_backoff_millis": 1}, 3),
        ("POST", "/hostile/status/999", {"max_retry_times": 2, "retry_backoff_millis": 1}, 1),
        ("POST", "/hostile/drop", {"max_retry_times": 2, "retry_backoff_millis": 1}, 1),
        # aiohttp would resend these once after a dropped connection: the upstream ran it twice.
        ("PUT", "/hostile/drop", None, 1),
        ("GET", "/hostile/drop", None, 1),
        ("DELETE", "/hostile/drop", None, 1),
    ],
)
def test_a_predict_reaches_the_upstream_once_unless_retried(
    hc: Cluster,
    mock: MockUpstream,
    method: str,
    path: str,
    client_config: dict[str, Any] | None,
    hits: int,
) -> None:
    extra: dict[str, Any] = {} if client_config is None else {"client_config": client_config}
    model_id = model(hc, mock, method=method, **extra)
    name = uuid.uuid4().hex
    sep = "&" if "?" in path else "?"
    ask(hc, model_id, f"{path}{sep}tally={name}")
    assert tally(mock, name) == hits


# 6. Anything else ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/hostile/deep?depth=10000", 502, "Remote service response nests deeper than 100 levels"),
        ("/hostile/deep?depth=101", 502, "Remote service response nests deeper than 100 levels"),
        ("/hostile/reset?after=5000", 500, "Error communicating with remote model: "),
        ("/hostile/drop", 500, "Error communicating with remote model: "),
        ("/hostile/bytes?b64=bm90IGd6aXA=&encoding=gzip", 500, "Error communicating with remote"),
        ("/hostile/headers?bytes=100000", 502, "Remote service sent an invalid HTTP response: "),
        (
            "/hostile/headers?bytes=10&count=500",
            502,
            "Remote service sent an invalid HTTP response",
        ),
    ],
)
def test_broken_answers_are_clear_errors_and_the_node_serves_others(
    hc: Cluster, mock: MockUpstream, plain: str, path: str, status: int, reason: str
) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        hostile = pool.submit(ask, hc, plain, path)
        normal = ask(hc, plain, "/post", q="still here")
        assert normal.status_code == 200, normal.text
        assert error_of(hostile.result(), status).startswith(reason)


def test_answers_that_never_end_stop_at_the_deadline_and_the_node_serves_others(
    hc: Cluster, mock: MockUpstream, plain: str
) -> None:
    endless = [
        "/hostile/trickle?interval_ms=200",  # a byte at a time, forever
        # aiohttp waits for a final answer after a 1xx, whatever client_config's read_timeout.
        "/hostile/status/199",
    ]
    with ThreadPoolExecutor(max_workers=len(endless)) as pool:
        pending = [pool.submit(ask, hc, plain, path) for path in endless]
        for _ in range(3):
            assert ask(hc, plain, "/post", q="still here").status_code == 200
        for future in pending:
            reason = error_of(future.result(), 504)
            assert reason == "The remote model did not answer in time"


@pytest.mark.parametrize(
    ("raw", "content_type", "data"),
    [
        (b'{"a": "\xff\xfe"}', "application/json", {"a": "\ufffd\ufffd"}),
        (b'{"a": 1', "application/json", {"response": '{"a": 1'}),
        (b'{"a": 1}', "text/html", {"a": 1}),
        (b'{"a": 1}', "application/json; charset=no-such-charset", {"a": 1}),
        (b'{"a": "caf\xe9"}', "application/json; charset=latin-1", {"a": "café"}),
        (b'{"a": "x"}', "application/json; charset=zlib", {"a": "x"}),
        (b'{"a": NaN}', "application/json", {"response": '{"a": NaN}'}),
        (b'"\\ud800"', "application/json", {"response": '"\\ud800"'}),
        (b"\x00\x01\x02", "application/octet-stream", {"response": "\x00\x01\x02"}),
    ],
)
def test_odd_bodies_are_served_as_text_or_json(
    hc: Cluster, mock: MockUpstream, plain: str, raw: bytes, content_type: str, data: Any
) -> None:
    path = f"/hostile/bytes?b64={b64(raw)}&type={quote(content_type)}"
    response = ask(hc, plain, path)
    assert response.status_code == 200, response.text
    assert response.json()["inference_results"][0]["output"][0]["dataAsMap"] == data


@pytest.mark.parametrize(
    "url",
    [
        "http://${parameters.endpoint}/hostile/trickle?interval_ms=3000&key=${credential.api_key}",
        # Unroutable here: aiohttp's connect timeout message quotes the whole URL.
        "http://[::127.0.0.1]:9/x?key=${credential.api_key}",
    ],
)
def test_transport_errors_name_no_secret_in_the_url(
    hc: Cluster, mock: MockUpstream, url: str
) -> None:
    config = {"read_timeout": 1, "connection_timeout": 1}
    slow = model(hc, mock, url=url, client_config=config)
    reason = error_of(hc.predict(slow, {}), 500)
    assert reason.startswith("Error communicating with remote model: ")

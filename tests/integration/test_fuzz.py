"""Property-based fuzzing of every endpoint over real sockets against the running cluster.

Whatever the body, path id, query string or method, the API must answer JSON (never HTML),
never a 5xx other than 502/503/504 (save the 500s ML Commons itself specifies for upstream
failures), put every non-2xx answer in the OpenSearch envelope, and keep serving afterwards.
Run with -s to see how many cases each family ran and what they answered; FUZZ_DEBUG=<family>
(e.g. predict, register, DELETE) prints every answer of that family.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import create_app
from common import cluster_settings as cs
from common.settings import Settings
from tests.integration.cluster import LOOPBACK_TRUSTED, Cluster, MockUpstream

ML = "/_plugins/_ml"


@dataclass(frozen=True)
class Endpoint:
    """One route of the API: its method, its path with {placeholders}, its body family."""

    method: str
    template: str
    family: str


# Every rule of the app's url_map; test_the_table_covers_every_route keeps it complete.
ENDPOINTS = (
    Endpoint("GET", "/", "none"),
    Endpoint("PUT", "/_cluster/settings", "settings"),
    Endpoint("GET", "/_cluster/settings", "none"),
    Endpoint("POST", f"{ML}/connectors/_create", "connector"),
    Endpoint("GET", f"{ML}/connectors/{{connector_id}}", "none"),
    Endpoint("DELETE", f"{ML}/connectors/{{connector_id}}", "none"),
    Endpoint("GET", f"{ML}/connectors/_search", "search"),
    Endpoint("POST", f"{ML}/connectors/_search", "search"),
    Endpoint("POST", f"{ML}/model_groups/_register", "group"),
    Endpoint("GET", f"{ML}/model_groups/{{group_id}}", "none"),
    Endpoint("DELETE", f"{ML}/model_groups/{{group_id}}", "none"),
    Endpoint("GET", f"{ML}/model_groups/_search", "search"),
    Endpoint("POST", f"{ML}/model_groups/_search", "search"),
    Endpoint("POST", f"{ML}/models/_register", "register"),
    Endpoint("POST", f"{ML}/models/_upload", "register"),
    Endpoint("GET", f"{ML}/models/{{model_id}}", "none"),
    Endpoint("DELETE", f"{ML}/models/{{model_id}}", "none"),
    Endpoint("GET", f"{ML}/models/_search", "search"),
    Endpoint("POST", f"{ML}/models/_search", "search"),
    Endpoint("POST", f"{ML}/models/{{model_id}}/_deploy", "none"),
    Endpoint("POST", f"{ML}/models/{{model_id}}/_load", "none"),
    Endpoint("POST", f"{ML}/models/{{model_id}}/_undeploy", "none"),
    Endpoint("POST", f"{ML}/models/{{model_id}}/_unload", "none"),
    Endpoint("POST", f"{ML}/models/_undeploy", "undeploy"),
    Endpoint("POST", f"{ML}/models/_unload", "undeploy"),
    Endpoint("POST", f"{ML}/models/{{model_id}}/_predict", "predict"),
    Endpoint("POST", f"{ML}/_predict/{{algorithm}}/{{model_id}}", "predict"),
    Endpoint("GET", f"{ML}/tasks/{{task_id}}", "none"),
    Endpoint("DELETE", f"{ML}/tasks/{{task_id}}", "none"),
    Endpoint("GET", f"{ML}/tasks/_search", "search"),
    Endpoint("POST", f"{ML}/tasks/_search", "search"),
    Endpoint("PUT", f"{ML}/connectors/{{connector_id}}", "connector"),
    Endpoint("PUT", f"{ML}/models/{{model_id}}", "register"),
    Endpoint("PUT", f"{ML}/model_groups/{{group_id}}", "group"),
    Endpoint("GET", f"{ML}/stats", "none"),
    Endpoint("GET", f"{ML}/stats/{{stat}}", "none"),
    Endpoint("GET", f"{ML}/{{node_id}}/stats", "none"),
    Endpoint("GET", f"{ML}/{{node_id}}/stats/{{stat}}", "none"),
    Endpoint("GET", f"{ML}/profile", "none"),
    Endpoint("GET", f"{ML}/profile/models", "none"),
    Endpoint("GET", f"{ML}/profile/models/{{model_id}}", "none"),
    Endpoint("POST", f"{ML}/models/{{model_id}}/_batch_predict", "predict"),
    Endpoint("POST", f"{ML}/tasks/{{task_id}}/_cancel", "none"),
    Endpoint("POST", f"{ML}/controllers/{{model_id}}", "none"),
    Endpoint("PUT", f"{ML}/controllers/{{model_id}}", "none"),
    Endpoint("GET", f"{ML}/controllers/{{model_id}}", "none"),
    Endpoint("DELETE", f"{ML}/controllers/{{model_id}}", "none"),
    Endpoint("GET", "/metrics", "none"),
)

# ML Commons itself answers 500 for these (spec 8.6: transport failure, upstream 5xx passed on);
# any other 5xx but 502/503/504 is a defect.
SPEC_500_REASONS = (
    "Error communicating with remote model",
    "Error from remote service",
    # Features a fuzzed cluster setting switched off: ML Commons' IllegalStateException (500).
    "Offline Batch Inference is currently disabled",
    "Controller is currently disabled",
)
ALLOWED_5XX = (502, 503, 504)
SETTING_NAMES = tuple(cs.PREFIX + short for short in cs.DEFINITIONS)
BASELINE = {  # the gw fixture's settings: loopback trusted, private IPs allowed
    cs.PREFIX + "trusted_connector_endpoints_regex": [LOOPBACK_TRUSTED],
    cs.PREFIX + "connector.private_ip_enabled": True,
}
COUNTS: dict[str, int] = {}


# --- the wire -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    method: str
    target: str
    body: bytes
    status: int
    content_type: str
    data: bytes

    def describe(self) -> str:
        return (
            f"{self.method} {self.target[:300]} body={self.body[:300]!r} -> {self.status} "
            f"{self.content_type} {self.data[:500]!r}"
        )


def send(gw: Cluster, method: str, target: str, body: bytes | None, ctype: str | None) -> Answer:
    """Send one request on a fresh connection, exactly as given (no client-side re-quoting)."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.settings.port, timeout=60)
    try:
        headers = {} if ctype is None else {"Content-Type": ctype}
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        ctype_out = response.getheader("Content-Type") or ""
        return Answer(method, target, body or b"", response.status, ctype_out, data)
    finally:
        conn.close()


def check(answer: Answer) -> None:
    """The properties every answer must have."""
    what = answer.describe()
    assert answer.status < 500 or _allowed_5xx(answer), what
    if answer.method == "HEAD" or (answer.method == "OPTIONS" and answer.status < 300):
        return  # no body by definition (OPTIONS answers with an Allow header only)
    if answer.target == "/metrics" and answer.status == 200:  # Prometheus' text format
        assert answer.content_type == "text/plain; version=1.0.0; charset=utf-8", what
        return
    assert answer.content_type.startswith("application/json"), what
    payload = json.loads(answer.data)
    if answer.status >= 300:
        assert _is_envelope(payload, answer.status), what


def _allowed_5xx(answer: Answer) -> bool:
    if answer.status in ALLOWED_5XX:
        return True
    try:
        reason = json.loads(answer.data)["error"]["reason"]
    except (ValueError, KeyError, TypeError):
        return False
    return answer.status == 500 and str(reason).startswith(SPEC_500_REASONS)


def _is_envelope(payload: Any, status: int) -> bool:
    if not isinstance(payload, dict) or set(payload) != {"error", "status"}:
        return False
    error = payload["error"]
    causes = error.get("root_cause") if isinstance(error, dict) else None
    return (
        payload["status"] == status
        and isinstance(causes, list)
        and len(causes) > 0
        and all(_is_cause(cause) for cause in causes)
        and _is_cause(error)
    )


def _is_cause(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("type"), str)
        and isinstance(value.get("reason"), str)
    )


def stack_still_serves(gw: Cluster, model_id: str) -> None:
    """GET / and a known-good predict still work."""
    assert gw.call("GET", "/").status_code == 200
    answer = gw.predict(model_id, {"messages": [{"role": "user", "content": "still here"}]})
    assert answer.status_code == 200 and "Echo: still here" in answer.text, answer.text[:300]


def restore_settings(gw: Cluster) -> None:
    """Clear every setting in both scopes, then put the gw baseline back."""
    cleared = dict.fromkeys(SETTING_NAMES)
    gw.ok(
        "PUT", "/_cluster/settings", {"persistent": {**cleared, **BASELINE}, "transient": cleared}
    )


# --- the records the fuzzer aims at --------------------------------------------------------------
@dataclass(frozen=True)
class Records:
    """A model that must keep serving, and records the fuzzer may delete or undeploy."""

    model_id: str  # the known-good model, never in a delete or undeploy
    echo_model_id: str  # a model whose upstream echoes the request: fuzzed predicts go deep
    connector_ids: tuple[str, ...]
    spare_model_ids: tuple[str, ...]
    group_ids: tuple[str, ...]
    task_ids: tuple[str, ...]

    def keep(self) -> tuple[str, ...]:
        return (self.model_id, self.echo_model_id, *self.connector_ids)

    def spare(self) -> tuple[str, ...]:
        return (*self.spare_model_ids, *self.task_ids, *self.group_ids)


@pytest.fixture(scope="module")
def records(cluster: Cluster, mock: MockUpstream) -> Records:
    restore_settings(cluster)
    chat = cluster.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    echo = cluster.create_connector(**_echo_connector(mock))
    model_id = cluster.register(chat, f"fuzz-known-{uuid.uuid4().hex[:6]}")
    cluster.deploy(model_id)
    echo_model_id = cluster.register(echo, f"fuzz-echo-{uuid.uuid4().hex[:6]}")
    cluster.deploy(echo_model_id)
    spares = tuple(cluster.register(chat, f"fuzz-spare-{n}-{uuid.uuid4().hex[:6]}") for n in (1, 2))
    group = cluster.ok("POST", f"{ML}/model_groups/_register", {"name": f"fg-{uuid.uuid4().hex}"})
    tasks = cluster.ok("POST", f"{ML}/tasks/_search", {"size": 3})["hits"]["hits"]
    return Records(
        model_id=model_id,
        echo_model_id=echo_model_id,
        connector_ids=(chat, echo),
        spare_model_ids=spares,
        group_ids=(group["model_group_id"],),
        task_ids=tuple(hit["_id"] for hit in tasks),
    )


def _echo_connector(mock: MockUpstream) -> dict[str, Any]:
    action = {
        "action_type": "predict",
        "method": "POST",
        "url": "http://${parameters.endpoint}/post?m=${parameters.model}",
        "headers": {"Authorization": "Bearer ${credential.key}", "X-Id": "${parameters.id:-x}"},
        "request_body": '{"p": "${parameters.prompt}", "m": ${parameters.messages}}',
    }
    return {
        "parameters": {"endpoint": mock.host, "model": "e", "messages": "[]", "prompt": "p"},
        "credential": {"key": "k"},
        "actions": [action],
    }


# --- strategies -----------------------------------------------------------------------------------
HUGE_INTS = st.integers(min_value=2**63 - 2, max_value=2**200) | st.integers(
    min_value=-(2**200), max_value=-(2**63) + 2
)
TEXT = st.text(max_size=30) | st.sampled_from(
    ["", " ", "\x00", "${parameters.x}", "${credential.y}", "%s", "\\", '"', "é😀", "a\u2028b"]
)
# A lone surrogate is malformed JSON when escaped and bad UTF-8 when not; the rest are edges.
ODD_SCALARS = ["\ud800", 2**64, -(2**63) - 1, 1e308, -0.0, 5e-324, "null", "true", "1e400"]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | HUGE_INTS
    | st.floats(allow_nan=False, allow_infinity=False)
    | (TEXT | st.sampled_from(ODD_SCALARS))
)
JSON = st.recursive(
    SCALARS,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(TEXT, kids, max_size=4),
    max_leaves=12,
)


def maybe(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field value: usually plausible, else any JSON (a wrong type)."""
    return st.one_of(plausible, plausible, JSON)


def near(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A body built from the real field names, each present or not, each value maybe wrong."""
    return st.fixed_dictionaries({}, optional={k: maybe(v) for k, v in fields.items()})


URLS = st.sampled_from(
    [
        "http://${parameters.endpoint}/v1/chat/completions",
        "http://127.0.0.1:1/x",
        "https://api.openai.com/v1/chat/completions",
        "ftp://127.0.0.1/",
        "http://[::1/",
        "${parameters.url}",
        "",
    ]
)
ACTION = near(
    {
        "action_type": st.sampled_from(["predict", "PREDICT", "execute", "batch_predict", "x"]),
        "method": st.sampled_from(["POST", "post", "GET", "PATCH", ""]),
        "url": URLS,
        "headers": st.dictionaries(TEXT, TEXT | st.just("${credential.k}"), max_size=3),
        "request_body": TEXT | st.just('{"m": ${parameters.messages}}'),
        "pre_process_function": st.sampled_from(["connector.pre_process.openai.embedding", "x"]),
        "post_process_function": st.sampled_from(["connector.post_process.openai.embedding", "x"]),
    }
)
CLIENT_CONFIG = near(
    {
        "max_connection": st.integers(-2, 2**40),
        "connection_timeout": st.integers(-2, 2**40),
        "read_timeout": st.integers(-2, 2**40),
        "retry_backoff_millis": st.integers(),
        "retry_timeout_seconds": st.integers(),
        "max_retry_times": st.integers(),
        "retry_backoff_policy": st.sampled_from(["constant", "exponential_full_jitter", "x"]),
        "skip_ssl_verification": st.booleans(),
    }
)
ACCESS = {
    "backend_roles": st.lists(TEXT, max_size=2),
    "add_all_backend_roles": st.booleans(),
    "access_mode": st.sampled_from(["public", "private", "restricted"]),
}
CONNECTOR = near(
    {
        "name": TEXT,
        "description": TEXT,
        "version": st.integers() | TEXT,
        "protocol": st.sampled_from(["http", "aws_sigv4", "HTTP", "grpc"]),
        "parameters": st.dictionaries(TEXT | st.sampled_from(["endpoint", "region"]), JSON),
        "credential": st.dictionaries(TEXT | st.sampled_from(["access_key", "secret_key"]), JSON),
        "actions": st.lists(ACTION, max_size=2),
        "client_config": CLIENT_CONFIG,
        **ACCESS,
    }
)
GROUP = near({"name": TEXT, "description": TEXT, **ACCESS})
QUERY = st.fixed_dictionaries(
    {},
    optional={
        "query": maybe(st.fixed_dictionaries({"match_all": st.fixed_dictionaries({})})),
        "size": maybe(st.integers(-5, 20) | HUGE_INTS | st.just("10")),
        "from": maybe(st.integers(-5, 20) | HUGE_INTS | st.just("1")),
        "sort": JSON,
        "_source": JSON,
    },
)
PREDICT_KEYS = st.sampled_from(
    [
        "messages",
        "prompt",
        "model",
        "endpoint",
        "id",
        "response_filter",
        "http_body",
        "no_escape_params",
        "skip_validating_missing_parameters",
        "charset",
        "input",
        "texts",
        "input_docs_processed_step_size",
    ]
)
PREDICT_VALUES = JSON | st.sampled_from(
    ["$.a", "$[*]", "$..x", "[", "utf-16", "nope", "127.0.0.1:1", "true", "${parameters.prompt}"]
)
PREDICT = near(
    {
        "parameters": st.dictionaries(PREDICT_KEYS | TEXT, PREDICT_VALUES, max_size=5),
        "action_type": st.sampled_from(["predict", "PREDICT", "execute", "batch_predict", "x"]),
        "text_docs": st.lists(TEXT, max_size=3),
        "dlq": JSON,
    }
)


def _setting_values(short: str) -> st.SearchStrategy[Any]:
    definition = cs.DEFINITIONS[short]
    if definition.kind == "bool":
        return st.booleans() | st.sampled_from(["true", "false", "TRUE", "yes", 1, None])
    if definition.kind == "int":
        return st.integers(-3, 2**33) | HUGE_INTS | st.sampled_from(["10", "1.5", "", None])
    if definition.kind == "choice":
        return st.sampled_from([*definition.choices, "x", None])
    regexes = st.sampled_from(["^http://x$", "(a+)+", "(", "a" * 300, r"(\w)\1", "[z-a]", ""])
    return st.lists(regexes | TEXT, max_size=3) | regexes | st.none()


SETTING_MAP = st.fixed_dictionaries(
    {},
    optional={cs.PREFIX + short: maybe(_setting_values(short)) for short in cs.DEFINITIONS},
) | st.dictionaries(TEXT | st.sampled_from(SETTING_NAMES), JSON, max_size=3)


def _nested(flat: dict[str, Any]) -> Any:
    return cs.nest(flat) if all(isinstance(k, str) and k for k in flat) else flat


SETTINGS_BODY = st.fixed_dictionaries(
    {},
    optional={
        "persistent": maybe(SETTING_MAP | SETTING_MAP.map(_nested)),
        "transient": maybe(SETTING_MAP | SETTING_MAP.map(_nested)),
    },
)
# Valid bodies, then 0-2 mutations (a value replaced by any JSON, or a key dropped): these pass
# the first checks and reach the later ones, the store, the workers and the upstream.
INTS = st.integers(-3, 1000) | HUGE_INTS
PARAM_VALUES = TEXT | st.integers() | st.booleans() | st.lists(TEXT, max_size=2)
VALID_ACTION = st.fixed_dictionaries(
    {
        "action_type": st.sampled_from(["predict", "PREDICT", "execute"]),
        "method": st.sampled_from(["POST", "GET", "post"]),
        "url": st.sampled_from(
            [
                "http://${parameters.endpoint}/v1/chat/completions",
                "http://127.0.0.1:9/x?q=${parameters.q}",
                "http://127.0.0.1:${parameters.port}/",
            ]
        ),
    },
    optional={
        "headers": st.dictionaries(TEXT, TEXT | st.just("Bearer ${credential.key}"), max_size=2),
        "request_body": TEXT | st.just('{"m": ${parameters.messages}, "p": "${parameters.p}"}'),
        "pre_process_function": st.sampled_from(["connector.pre_process.openai.embedding"]),
        "post_process_function": st.sampled_from(["connector.post_process.openai.embedding"]),
    },
)
VALID_CLIENT_CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "max_connection": st.integers(1, 50) | HUGE_INTS,
        "connection_timeout": INTS,
        "read_timeout": INTS,
        "retry_backoff_millis": INTS,
        "retry_timeout_seconds": INTS,
        "max_retry_times": INTS,
        "retry_backoff_policy": st.sampled_from(["constant", "exponential_equal_jitter"]),
        "skip_ssl_verification": st.booleans(),
    },
)
HTTP_CONNECTOR = st.fixed_dictionaries(
    {
        "name": TEXT,
        "version": st.integers(0, 5) | HUGE_INTS | TEXT | st.floats(),
        "protocol": st.just("http"),
        "parameters": st.fixed_dictionaries(
            {"endpoint": st.just("127.0.0.1:9")}, optional={"model": PARAM_VALUES, "p": JSON}
        ),
        "credential": st.dictionaries(TEXT, TEXT | st.integers(), min_size=1, max_size=2),
        "actions": st.lists(VALID_ACTION, min_size=1, max_size=2),
    },
    optional={"description": TEXT, "client_config": VALID_CLIENT_CONFIG},
)
AWS_CONNECTOR = st.fixed_dictionaries(
    {
        "name": TEXT,
        "version": st.just(1),
        "protocol": st.just("aws_sigv4"),
        "parameters": st.fixed_dictionaries(
            {"endpoint": st.just("127.0.0.1:9"), "region": TEXT, "service_name": TEXT}
        ),
        "credential": st.fixed_dictionaries({"access_key": TEXT, "secret_key": TEXT}),
        "actions": st.lists(VALID_ACTION, min_size=1, max_size=1),
    }
)
VALID_CONNECTOR = HTTP_CONNECTOR | AWS_CONNECTOR
VALID_PREDICT = st.fixed_dictionaries(
    {
        "parameters": st.fixed_dictionaries(
            {
                "messages": st.lists(
                    st.fixed_dictionaries({"role": st.just("user"), "content": TEXT}), max_size=2
                )
            },
            optional={"prompt": TEXT, "model": PARAM_VALUES, "id": TEXT},
        )
    },
    optional={"action_type": st.just("predict"), "text_docs": st.lists(TEXT, max_size=2)},
)


def _slots(value: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key) pair in a JSON value, depth first."""
    items: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, child in items:
        yield value, key
        yield from _slots(child)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[Any]) -> Any:
    body = draw(base)  # a fresh object per draw: mutating it in place is safe
    for _ in range(draw(st.integers(0, 2))):
        slots = list(_slots(body))
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(JSON)
    return body


def families(records: Records) -> dict[str, st.SearchStrategy[Any]]:
    """The near-valid body strategy of each endpoint family."""
    spare_ids = st.sampled_from(records.spare_model_ids)
    by_id: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
        {"connector_id": st.sampled_from(records.connector_ids)}
    )
    source = by_id | st.fixed_dictionaries({"connector": VALID_CONNECTOR})
    valid_register = st.builds(
        lambda fields, connector: {**fields, **connector},
        st.fixed_dictionaries(
            {"name": TEXT, "function_name": st.sampled_from(["remote", "REMOTE"])},
            optional={
                "model_group_id": st.sampled_from(records.group_ids),
                "description": TEXT,
                "version": INTS | TEXT,
                "is_enabled": st.booleans(),
                "deploy_setting": st.fixed_dictionaries(
                    {},
                    optional={"is_auto_deploy_enabled": st.booleans(), "model_ttl_minutes": INTS},
                ),
                "interface": st.dictionaries(st.sampled_from(["input", "output"]), TEXT | JSON),
            },
        ),
        source,
    )
    valid: dict[str, st.SearchStrategy[Any]] = {
        "connector": VALID_CONNECTOR,
        "group": st.fixed_dictionaries({"name": TEXT}, optional={"description": TEXT}),
        "register": valid_register,
        "search": QUERY,
        "undeploy": st.fixed_dictionaries({"model_ids": st.lists(spare_ids, min_size=1)}),
        "predict": VALID_PREDICT,
        "settings": SETTINGS_BODY,
    }
    loose = {
        "connector": CONNECTOR,
        "group": GROUP,
        "register": _register(records),
        "search": QUERY,
        "undeploy": near({"model_ids": st.lists(TEXT, max_size=3), "node_ids": st.lists(TEXT)}),
        "predict": PREDICT,
        "settings": SETTINGS_BODY,
    }
    return {
        "none": JSON,
        **{name: loose[name] | mutated(base) | mutated(base) for name, base in valid.items()},
    }


def _register(records: Records) -> st.SearchStrategy[dict[str, Any]]:
    return near(
        {
            "name": TEXT,
            "function_name": st.sampled_from(["remote", "REMOTE", "TEXT_EMBEDDING", "x"]),
            "model_group_id": st.sampled_from(records.group_ids) | TEXT,
            "version": st.integers() | TEXT,
            "description": TEXT,
            "connector_id": st.sampled_from(records.connector_ids) | TEXT,
            "connector": CONNECTOR,
            "is_enabled": st.booleans(),
            "deploy_setting": near(
                {"is_auto_deploy_enabled": st.booleans(), "model_ttl_minutes": st.integers()}
            ),
            "interface": st.dictionaries(st.sampled_from(["input", "output", "x"]), TEXT | JSON),
            **ACCESS,
        }
    )


def ids(pool: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Path ids: real ones, junk, names of other routes, hostile and over-long ones."""
    return st.one_of(
        st.sampled_from(pool),
        st.text(min_size=1, max_size=40),
        st.sampled_from(["_search", "_create", "_register", ".", "..", "ids", "a:b", "*", "%"]),
        st.sampled_from(["%ff", "%c3%28", "%00", "%zz", "%2F", "%252F", "%2e%2e", "%u0041"]),
        st.integers(4000, 9000).map(lambda n: "x" * n),
    )


def encode_id(raw: str, quoting: str) -> str:
    """Percent-encode an id fully, or leave / and % raw (odd paths and bad escapes)."""
    if quoting == "full":
        return quote(raw, safe="")
    return quote(raw, safe="/%")


def body_bytes(kind: str, value: Any, ascii_only: bool) -> bytes | None:
    """Encode a drawn body; lone surrogates become invalid UTF-8 when not escaped."""
    if kind == "absent":
        return None
    if kind == "raw":
        assert isinstance(value, bytes)
        return value
    text = json.dumps(value, ensure_ascii=ascii_only)
    return text.encode("utf-8", errors="surrogatepass")


@st.composite
def bodies(draw: st.DrawFn, family: st.SearchStrategy[Any], near_share: int = 3) -> bytes | None:
    """A body: absent, raw bytes, any JSON, or (near_share times as often) one of the family."""
    kind = draw(st.sampled_from(["absent", "raw", "json", *["near"] * near_share]))
    value: Any = None
    if kind == "raw":
        value = draw(st.binary(max_size=64) | st.sampled_from([b"{", b"[]", b"nul", b"{}{}"]))
    elif kind == "json":
        value = draw(JSON)
    elif kind == "near":
        value = draw(family)
    return body_bytes(kind, value, draw(st.booleans()))


QUERY_STRINGS = st.dictionaries(
    st.sampled_from(["deploy", "size", "from", "flat_settings", "include_defaults", "pretty"])
    | st.text(max_size=8),
    st.sampled_from(["true", "false", "-1", "99999999999999999999", ""]) | st.text(max_size=8),
    max_size=3,
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-16",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/x-ndjson",
        None,
    ]
)
RAW_QUERIES = st.sampled_from(["", "?", "?&&", "?=", "?size=%ff", "?from=%zz&size", "?a=1;b=2"])


# --- running the fuzz ---------------------------------------------------------------------------
def fill(endpoint: Endpoint, data: st.DataObject, records: Records) -> str:
    """The endpoint's path with every placeholder replaced by a drawn, encoded id."""
    # Updates and deletes touch only spare records: the kept ones must still serve afterwards.
    destructive = endpoint.method in ("DELETE", "PUT") or "_un" in endpoint.template
    pool = records.spare() if destructive else (*records.keep(), *records.spare())
    path = endpoint.template
    quoting = data.draw(st.sampled_from(["full", "full", "partial"]))
    names = ("connector_id", "group_id", "model_id", "task_id", "algorithm", "node_id", "stat")
    for name in names:
        if "{" + name + "}" in path:
            raw = data.draw(ids(pool) | st.sampled_from(["remote", "text_embedding"]))
            path = path.replace("{" + name + "}", encode_id(raw, quoting))
    return path


def with_query(path: str, query: dict[str, str]) -> str:
    return path + ("?" + urlencode(query) if query else "")


class Run:
    """Counts and times the cases of one fuzz family; prints them at the end (-s shows them)."""

    def __init__(self, family: str) -> None:
        self.family = family
        self.started = time.monotonic()
        self.statuses: Counter[str] = Counter()

    def case(
        self, gw: Cluster, method: str, target: str, body: bytes | None, ctype: Any, kind: str = ""
    ) -> None:
        COUNTS[self.family] = COUNTS.get(self.family, 0) + 1
        answer = send(gw, method, target, body, ctype)
        self.statuses[f"{kind}{answer.status}"] += 1
        if os.environ.get("FUZZ_DEBUG", "-") in kind:
            print(answer.describe())
        check(answer)

    def report(self) -> None:
        took = time.monotonic() - self.started
        statuses = dict(sorted(self.statuses.items()))
        print(f"\nfuzz[{self.family}]: {COUNTS[self.family]} cases in {took:.1f}s {statuses}")


@pytest.fixture
def run() -> Iterator[Callable[[str], Run]]:
    made: list[Run] = []

    def start(family: str) -> Run:
        made.append(Run(family))
        return made[-1]

    yield start
    for one in made:
        one.report()


FUZZ = settings(
    derandomize=True,  # same cases on every run: CI is reproducible
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _is_settings_put(endpoint: Endpoint) -> bool:
    return endpoint.method == "PUT" and endpoint.family == "settings"


# --- the tests -----------------------------------------------------------------------------------
def test_the_table_covers_every_route(tmp_path: Path) -> None:
    # Building the app connects to nothing, so an unreachable Redis is fine here.
    app = create_app(Settings(redis_url="redis://127.0.0.1:9/0", data_dir=tmp_path))
    routes = {
        (method, rule.rule.replace("<", "{").replace(">", "}").replace("{path:", "{"))
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert routes == {(e.method, e.template) for e in ENDPOINTS}


def test_any_body_on_any_endpoint(gw: Cluster, records: Records, run: Any) -> None:
    fuzz = run("any-body")

    @settings(FUZZ, max_examples=400)
    @given(st.data())
    def case(data: st.DataObject) -> None:
        endpoint = data.draw(st.sampled_from(ENDPOINTS))
        path = fill(endpoint, data, records)
        body = data.draw(bodies(JSON))
        try:
            fuzz.case(
                gw, endpoint.method, path, body, data.draw(CONTENT_TYPES), endpoint.family + ":"
            )
        finally:
            if _is_settings_put(endpoint):
                restore_settings(gw)

    case()
    stack_still_serves(gw, records.model_id)


def test_near_valid_bodies(gw: Cluster, records: Records, run: Any) -> None:
    fuzz = run("near-valid")
    bodies_of = families(records)
    targets = [e for e in ENDPOINTS if e.family not in ("none", "settings")]
    by_family = {e.family: [t for t in targets if t.family == e.family] for e in targets}

    @settings(FUZZ, max_examples=700)
    @given(st.data())
    def case(data: st.DataObject) -> None:
        family = data.draw(st.sampled_from(sorted(by_family)))  # each family as often
        endpoint = data.draw(st.sampled_from(by_family[family]))
        path = with_query(fill(endpoint, data, records), data.draw(QUERY_STRINGS))
        body = data.draw(bodies(bodies_of[endpoint.family], near_share=12))
        fuzz.case(gw, endpoint.method, path, body, "application/json", endpoint.family + ":")

    case()
    stack_still_serves(gw, records.model_id)


def test_cluster_settings(gw: Cluster, records: Records, run: Any) -> None:
    fuzz = run("settings")
    settings_bodies = bodies(families(records)["settings"])

    @settings(FUZZ, max_examples=200)
    @given(st.data())
    def case(data: st.DataObject) -> None:
        query = data.draw(QUERY_STRINGS)
        body = data.draw(settings_bodies)
        try:
            fuzz.case(gw, "PUT", with_query("/_cluster/settings", query), body, "application/json")
            fuzz.case(gw, "GET", with_query("/_cluster/settings", query), None, None)
        finally:
            restore_settings(gw)  # no fuzzed value may outlive its case

    case()
    stack_still_serves(gw, records.model_id)


def test_predict_on_served_models(gw: Cluster, records: Records, run: Any) -> None:
    fuzz = run("predict")
    served = (records.model_id, records.echo_model_id)
    predict_bodies = bodies(families(records)["predict"], near_share=12)

    @settings(FUZZ, max_examples=300)
    @given(st.data())
    def case(data: st.DataObject) -> None:
        model_id = data.draw(st.sampled_from(served))
        algorithm = data.draw(st.sampled_from(["remote", "text_embedding", "x"]) | TEXT)
        path = data.draw(
            st.sampled_from(
                [
                    f"{ML}/models/{model_id}/_predict",
                    f"{ML}/_predict/{quote(algorithm, safe='')}/{model_id}",
                ]
            )
        )
        body = data.draw(predict_bodies)
        fuzz.case(gw, "POST", path, body, data.draw(CONTENT_TYPES), "predict:")

    case()
    stack_still_serves(gw, records.model_id)


def test_paths_methods_and_queries(gw: Cluster, records: Records, run: Any) -> None:
    fuzz = run("paths")
    methods = st.sampled_from(
        ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "FOO", "get"]
    )
    prefixes = st.sampled_from(sorted({e.template.split("{")[0] for e in ENDPOINTS}))

    @settings(FUZZ, max_examples=250)
    @given(st.data())
    def case(data: st.DataObject) -> None:
        method = data.draw(methods)
        destructive = method in ("DELETE", "PUT")
        pool = records.spare() if destructive else (*records.keep(), *records.spare())
        raw = data.draw(ids(pool) | st.text(max_size=60))
        quoting = data.draw(st.sampled_from(["full", "partial"]))
        path = data.draw(prefixes) + encode_id(raw, quoting)
        target = data.draw(
            st.just(with_query(path, data.draw(QUERY_STRINGS)))
            | RAW_QUERIES.map(lambda query: path + query)
        )
        if method == "PUT" and path.startswith("/_cluster/settings"):
            return  # settings writes are fuzzed, with a restore, in test_cluster_settings
        body = data.draw(st.none() | bodies(JSON))
        fuzz.case(gw, method, target, body, data.draw(CONTENT_TYPES), method + ":")

    case()
    stack_still_serves(gw, records.model_id)


# --- what the fuzzer found, pinned ---------------------------------------------------------------
@pytest.mark.parametrize("raw", [b'"\xed\xa0\x80"', b'{"name": "\xed\xa0\x80"}', b'{"a": "\xff"}'])
def test_invalid_utf8_in_a_string_is_a_parse_error(gw: Cluster, raw: bytes) -> None:
    # msgspec raises UnicodeDecodeError, not DecodeError, for these: they were 500s.
    answer = send(gw, "POST", f"{ML}/model_groups/_register", raw, "application/json")
    check(answer)
    assert answer.status == 400 and b"parse_exception" in answer.data, answer.describe()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{ML}/_predict/0%2F/some-model"),
        ("POST", f"{ML}/_predict//some-model"),
        ("GET", f"{ML}//models/_search"),
        ("GET", "/_cluster//settings"),
        ("HEAD", f"{ML}/models//x"),
    ],
)
def test_double_slashes_are_not_redirected(gw: Cluster, method: str, path: str) -> None:
    # werkzeug merged the slashes with an HTML 308 redirect that bypassed the error handlers.
    answer = send(gw, method, path, None, None)
    check(answer)
    assert answer.status == 400, answer.describe()

"""Tests for tools.mock_upstream: provider imitations, SigV4 checks, fault injection, CLI."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import botocore.session
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from yarl import URL

from tools.mock_upstream.app import create_app
from tools.mock_upstream.cli import configure_parser
from tools.mock_upstream.config import MockConfig
from tools.mock_upstream.faults import INJECTED_FAILURE
from tools.mock_upstream.model import embedding_vector
from tools.mock_upstream.openai import BAD_API_KEY
from tools.mock_upstream.sigv4 import BAD_SIGNATURE, BAD_TOKEN, MISSING_TOKEN

T = TypeVar("T")
Client = TestClient[web.Request, web.Application]

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY = "AKIATESTKEY"
SECRET = "test-secret"
SMALL = MockConfig(embedding_dim=8, aws_access_key=ACCESS_KEY, aws_secret_key=SECRET)
AUTH = {"Authorization": "Bearer sk-test"}
UNAUTHORIZED = {
    "error": {
        "message": BAD_API_KEY,
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
# botocore puts Bedrock model ids in the path percent-encoded; the server must verify that form.
CLAUDE_PATH = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def run(scenario: Callable[[Client], Awaitable[T]], config: MockConfig = SMALL) -> T:
    async def go() -> T:
        async with TestClient(TestServer(create_app(config))) as client:
            return await scenario(client)

    return asyncio.run(go())


async def _reply(client: Client, method: str, url: str | URL, **kwargs: Any) -> Reply:
    # A str is a path on the test server; a URL goes out byte for byte (SigV4 signs the path).
    target = client.make_url(url) if isinstance(url, str) else url
    async with client.session.request(method, target, **kwargs) as resp:
        return Reply(resp.status, resp.content_type, dict(resp.headers), await resp.read())


def call(method: str, path: str, config: MockConfig = SMALL, **kwargs: Any) -> Reply:
    return run(lambda client: _reply(client, method, path, **kwargs), config)


def sign(url: str, body: bytes, service: str, **creds: Any) -> dict[str, str]:
    """Headers a botocore client would send for this request; signed_extra are signed too."""
    headers = {"Content-Type": "application/json", **creds.get("signed_extra", {})}
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    credentials = Credentials(
        creds.get("access_key", ACCESS_KEY), creds.get("secret", SECRET), creds.get("token")
    )
    SigV4Auth(credentials, service, "eu-west-1").add_auth(request)
    return dict(request.headers.items())


def aws_post(
    path: str,
    payload: Any,
    service: str,
    *,
    config: MockConfig = SMALL,
    sent_body: bytes | None = None,
    extra_headers: dict[str, str] | None = None,
    **creds: Any,
) -> Reply:
    """POST a SigV4-signed request, sending the path bytes exactly as they were signed."""
    body = json.dumps(payload).encode()

    async def scenario(client: Client) -> Reply:
        url = f"http://{client.host}:{client.port}{path}"
        headers = {**sign(url, body, service, **creds), **(extra_headers or {})}
        data = body if sent_body is None else sent_body
        return await _reply(client, "POST", URL(url, encoded=True), data=data, headers=headers)

    return run(scenario, config)


# ---------------------------------------------------------------- OpenAI


def test_chat_completion_has_openai_shape_and_echoes_last_user_message() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "text", "text": "hello big world"}]},
    ]
    payload = {"model": "gpt-4o", "messages": messages}
    reply = call("POST", "/v1/chat/completions", json=payload, headers=AUTH)
    assert reply.status == 200
    body = reply.json()
    assert body["id"].startswith("chatcmpl-") and len(body["id"]) > len("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert abs(body["created"] - time.time()) < 60
    assert body["model"] == "gpt-4o"
    message = {"role": "assistant", "content": "Echo: hello big world"}
    assert body["choices"] == [{"index": 0, "message": message, "finish_reason": "stop"}]
    assert body["usage"] == {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}


def test_legacy_completion_echoes_prompt() -> None:
    payload = {"model": "gpt-3.5-turbo-instruct", "prompt": "say hi"}
    body = call("POST", "/v1/completions", json=payload, headers=AUTH).json()
    assert body["id"].startswith("cmpl-")
    assert body["object"] == "text_completion"
    assert body["model"] == "gpt-3.5-turbo-instruct"
    choice = {"text": "Echo: say hi", "index": 0, "logprobs": None, "finish_reason": "stop"}
    assert body["choices"] == [choice]
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"])
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic c2stdGVzdA=="}]
)
def test_openai_endpoints_refuse_missing_bearer_token(path: str, headers: dict[str, str]) -> None:
    payload = {"model": "m", "messages": [{"role": "user", "content": "x"}], "prompt": "x"}
    reply = call("POST", path, json={**payload, "input": "x"}, headers=headers)
    assert reply.status == 401
    assert reply.json() == UNAUTHORIZED


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"json": {"model": "m"}}, "messages"),
        ({"json": {"model": "m", "messages": "hi"}}, "messages"),
        ({"json": {"messages": [{"role": "user", "content": "hi"}]}}, "model"),
        ({"data": b"not json"}, None),
    ],
)
def test_chat_completion_rejects_malformed_body(kwargs: dict[str, Any], param: str | None) -> None:
    reply = call("POST", "/v1/chat/completions", headers=AUTH, **kwargs)
    assert reply.status == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_embeddings_have_configured_dims_and_are_deterministic_per_text() -> None:
    payload = {"model": "text-embedding-3-small", "input": ["alpha", "beta gamma"]}
    first = call("POST", "/v1/embeddings", json=payload, headers=AUTH).json()
    again = call("POST", "/v1/embeddings", json=payload, headers=AUTH).json()
    assert first["object"] == "list" and first["model"] == "text-embedding-3-small"
    assert [d["index"] for d in first["data"]] == [0, 1]
    assert all(d["object"] == "embedding" for d in first["data"])
    vectors = [d["embedding"] for d in first["data"]]
    assert [len(v) for v in vectors] == [8, 8]
    assert all(-1.0 <= x <= 1.0 and round(x, 6) == x for v in vectors for x in v)
    assert vectors[0] != vectors[1]
    assert vectors == [d["embedding"] for d in again["data"]]
    assert first["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


def test_embedding_dim_follows_config_and_single_string_input() -> None:
    config = dataclasses.replace(SMALL, embedding_dim=16)
    payload = {"model": "m", "input": "alpha"}
    body = call("POST", "/v1/embeddings", config, json=payload, headers=AUTH).json()
    assert len(body["data"]) == 1
    assert len(body["data"][0]["embedding"]) == 16


# ---------------------------------------------------------------- Cohere


def test_cohere_embed_without_types_returns_float_lists() -> None:
    payload = {"texts": ["alpha", "beta"], "model": "embed-english-v3.0"}
    body = call("POST", "/v1/embed", json=payload, headers=AUTH).json()
    assert body["response_type"] == "embeddings_floats"
    assert body["texts"] == ["alpha", "beta"]
    assert body["embeddings"] == [embedding_vector("alpha", 8), embedding_vector("beta", 8)]
    assert body["meta"] == {"api_version": {"version": "1"}}
    assert isinstance(body["id"], str) and body["id"]


def test_cohere_embed_by_type_returns_each_requested_encoding() -> None:
    payload = {"texts": ["alpha", "beta"], "embedding_types": ["float", "int8", "uint8"]}
    body = call("POST", "/v1/embed", json=payload, headers=AUTH).json()
    assert body["response_type"] == "embeddings_by_type"
    by_type = body["embeddings"]
    assert set(by_type) == {"float", "int8", "uint8"}
    assert by_type["float"][0] == embedding_vector("alpha", 8)
    for floats, ints, unsigned in zip(
        by_type["float"], by_type["int8"], by_type["uint8"], strict=True
    ):
        assert len(ints) == 8 and all(isinstance(i, int) and -128 <= i <= 127 for i in ints)
        assert all(
            i * f >= 0 for i, f in zip(ints, floats, strict=True)
        )  # quantising keeps the sign
        assert unsigned == [i + 128 for i in ints]


@pytest.mark.parametrize(
    ("payload", "headers", "status"),
    [
        ({"texts": ["a"]}, {}, 401),
        ({"texts": []}, AUTH, 400),
        ({"texts": ["a"], "embedding_types": ["binary-ish"]}, AUTH, 400),
    ],
)
def test_cohere_embed_refusals(payload: Any, headers: dict[str, str], status: int) -> None:
    reply = call("POST", "/v1/embed", json=payload, headers=headers)
    assert reply.status == status
    assert isinstance(reply.json()["message"], str)


# ---------------------------------------------------------------- SageMaker and Bedrock


def test_sagemaker_accepts_botocore_signature_and_embeds_text_list() -> None:
    reply = aws_post("/endpoints/my-embedder/invocations", ["a b", "c"], "sagemaker")
    assert reply.status == 200, reply.body
    assert reply.json() == [embedding_vector("a b", 8), embedding_vector("c", 8)]
    assert reply.headers["x-Amzn-Invoked-Production-Variant"] == "AllTraffic"


def test_sagemaker_generates_text_for_inputs_object() -> None:
    reply = aws_post("/endpoints/my-llm/invocations", {"inputs": "hi there"}, "sagemaker")
    assert reply.status == 200, reply.body
    assert reply.json() == [{"generated_text": "Echo: hi there"}]


def test_bedrock_anthropic_messages_with_encoded_model_id() -> None:
    payload = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "ping pong"}]}],
    }
    reply = aws_post(CLAUDE_PATH, payload, "bedrock")
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["id"].startswith("msg_")
    assert (body["type"], body["role"], body["model"]) == ("message", "assistant", CLAUDE)
    assert body["content"] == [{"type": "text", "text": "Echo: ping pong"}]
    assert body["stop_reason"] == "end_turn"
    assert body["usage"] == {"input_tokens": 2, "output_tokens": 3}


def test_bedrock_titan_and_cohere_embeddings() -> None:
    titan = aws_post("/model/amazon.titan-embed-text-v2:0/invoke", {"inputText": "a b"}, "bedrock")
    assert titan.json() == {"embedding": embedding_vector("a b", 8), "inputTextTokenCount": 2}
    payload = {"texts": ["x", "y"], "input_type": "search_document"}
    cohere = aws_post("/model/cohere.embed-english-v3/invoke", payload, "bedrock").json()
    assert cohere["texts"] == ["x", "y"]
    assert cohere["embeddings"] == [embedding_vector("x", 8), embedding_vector("y", 8)]
    assert isinstance(cohere["id"], str) and "meta" not in cohere


def test_bedrock_accepts_signed_session_token() -> None:
    payload = {"inputText": "a"}
    reply = aws_post("/model/amazon.titan-embed-text-v1/invoke", payload, "bedrock", token="tok")
    assert reply.status == 200, reply.body


def test_bedrock_rejects_body_of_unknown_shape() -> None:
    reply = aws_post("/model/amazon.titan-embed-text-v1/invoke", {"prompt": "x"}, "bedrock")
    assert reply.status == 400
    assert reply.headers["x-amzn-ErrorType"] == "ValidationException"


SAGEMAKER = "/endpoints/e/invocations"
TITAN = "/model/amazon.titan-embed-text-v1/invoke"


@pytest.mark.parametrize(
    ("path", "service", "options", "error_type", "message"),
    [
        (SAGEMAKER, "sagemaker", {"secret": "wrong"}, "InvalidSignatureException", BAD_SIGNATURE),
        (TITAN, "bedrock", {"secret": "wrong"}, "InvalidSignatureException", BAD_SIGNATURE),
        (TITAN, "bedrock", {"access_key": "AKIAOTHER"}, "UnrecognizedClientException", BAD_TOKEN),
        (SAGEMAKER, "bedrock", {}, "InvalidSignatureException", None),
        (TITAN, "sagemaker", {}, "InvalidSignatureException", None),
        (TITAN, "bedrock", {"sent_body": b'{"inputText": "b"}'}, None, BAD_SIGNATURE),
        (
            TITAN,
            "bedrock",
            {"extra_headers": {"X-Amz-Security-Token": "unsigned"}},
            "InvalidSignatureException",
            None,
        ),
        (
            TITAN,
            "bedrock",
            {"signed_extra": {"X-Amz-Content-SHA256": "0" * 64}},
            None,
            BAD_SIGNATURE,
        ),
    ],
    ids=[
        "sagemaker-wrong-secret",
        "bedrock-wrong-secret",
        "unknown-access-key",
        "sagemaker-signed-for-bedrock",
        "bedrock-signed-for-sagemaker",
        "body-changed-after-signing",
        "unsigned-session-token",
        "signed-content-hash-not-of-body",
    ],
)
def test_aws_endpoints_refuse_bad_signatures(
    path: str, service: str, options: dict[str, Any], error_type: str | None, message: str | None
) -> None:
    reply = aws_post(path, {"inputText": "a"} if "model" in path else ["a"], service, **options)
    assert reply.status == 403, reply.body
    if error_type is not None:
        assert reply.headers["x-amzn-ErrorType"] == error_type
    if message is not None:
        assert reply.json() == {"message": message}


def _invoke_with_botocore(endpoint: str) -> tuple[Any, Any, str]:
    """Call the mock through real runtime clients: embed, chat, then a forged signature."""
    session = botocore.session.get_session()
    options: dict[str, Any] = {
        "region_name": "us-east-1",
        "endpoint_url": endpoint,
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET,
    }
    # Any: the runtime clients are generated at run time, so BaseClient lacks their methods.
    sagemaker: Any = session.create_client("sagemaker-runtime", **options)
    bedrock: Any = session.create_client("bedrock-runtime", **options)
    forged: Any = session.create_client(
        "bedrock-runtime", **{**options, "aws_secret_access_key": "x"}
    )
    embedded = sagemaker.invoke_endpoint(EndpointName="e", Body=b'["hi"]')["Body"].read()
    message = {"messages": [{"role": "user", "content": "yo"}]}
    answer = bedrock.invoke_model(modelId=CLAUDE, body=json.dumps(message))["body"].read()
    try:
        forged.invoke_model(modelId=CLAUDE, body=b"{}")
    except ClientError as exc:
        return json.loads(embedded), json.loads(answer), exc.response["Error"]["Code"]
    raise AssertionError("forged signature was accepted")


def test_real_botocore_clients_round_trip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The runtime clients the workers use: their signing, URL encoding and error parsing."""
    # Keep a developer's proxy and ~/.aws settings from steering the clients elsewhere.
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))

    async def scenario(client: Client) -> tuple[Any, Any, str]:
        # botocore blocks, so it runs in a thread while the loop serves it.
        endpoint = f"http://{client.host}:{client.port}"
        return await asyncio.to_thread(_invoke_with_botocore, endpoint)

    embedded, answer, error_code = run(scenario)
    assert embedded == [embedding_vector("hi", 8)]
    assert (answer["model"], answer["content"][0]["text"]) == (CLAUDE, "Echo: yo")
    assert error_code == "InvalidSignatureException"


@pytest.mark.parametrize("path", [SAGEMAKER, TITAN])
def test_aws_endpoints_refuse_unsigned_requests(path: str) -> None:
    reply = call("POST", path, json=["a"])
    assert reply.status == 403
    assert reply.json() == {"message": MISSING_TOKEN}


# ---------------------------------------------------------------- fault injection


def test_error_rate_one_fails_provider_calls_but_not_health() -> None:
    config = dataclasses.replace(SMALL, error_rate=1.0)
    failure = {"error": {"message": INJECTED_FAILURE, "type": "server_error"}}
    payload = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    chat = call("POST", "/v1/chat/completions", config, json=payload, headers=AUTH)
    assert (chat.status, chat.json()) == (500, failure)
    sagemaker = aws_post(SAGEMAKER, ["a"], "sagemaker", config=config)
    assert (sagemaker.status, sagemaker.json()) == (500, failure)
    health = call("GET", "/health", config)
    assert (health.status, health.json()) == (200, {"status": "ok"})


def test_error_rate_is_a_seeded_fraction() -> None:
    config = dataclasses.replace(SMALL, error_rate=0.5, seed=7)

    async def statuses(client: Client) -> list[int]:
        body = {"model": "m", "input": "x"}
        replies = [
            await _reply(client, "POST", "/v1/embeddings", json=body, headers=AUTH)
            for _ in range(30)
        ]
        return [r.status for r in replies]

    first, again = run(statuses, config), run(statuses, config)
    assert first == again
    assert set(first) == {200, 500}


def test_latency_delays_provider_calls_only() -> None:
    config = dataclasses.replace(SMALL, latency_ms=150)

    async def timings(client: Client) -> tuple[float, float]:
        start = time.perf_counter()
        await _reply(
            client, "POST", "/v1/embeddings", json={"model": "m", "input": "x"}, headers=AUTH
        )
        middle = time.perf_counter()
        await _reply(client, "GET", "/health")
        return middle - start, time.perf_counter() - middle

    provider, health = run(timings, config)
    assert provider >= 0.15
    assert health < 0.15


# ---------------------------------------------------------------- httpbin-like helpers


def test_post_echo_reports_exactly_what_was_sent() -> None:
    raw = b'{"k": [1, 2]}'
    headers = {"Content-Type": "application/json", "X-Custom": "yes"}
    body = call("POST", "/post?a=1&b=2&b=3", data=raw, headers=headers).json()
    assert body["method"] == "POST" and body["path"] == "/post"
    assert body["query"] == {"a": "1", "b": ["2", "3"]}
    assert body["headers"]["x-custom"] == "yes"
    assert body["headers"]["content-type"] == "application/json"
    assert body["json"] == {"k": [1, 2]}
    assert body["data"] == raw.decode()


def test_get_echo_and_non_json_post() -> None:
    got = call("GET", "/get").json()
    assert (got["method"], got["json"], got["data"], got["query"]) == ("GET", None, "", {})
    posted = call("POST", "/post", data=b"plain words").json()
    assert (posted["json"], posted["data"]) == (None, "plain words")


@pytest.mark.parametrize(("method", "code"), [("GET", 418), ("GET", 200), ("POST", 503)])
def test_status_endpoint_answers_requested_code(method: str, code: int) -> None:
    reply = call(method, f"/status/{code}")
    assert (reply.status, reply.json()) == (code, {"status": code})


def test_status_204_text_and_empty() -> None:
    no_content = call("GET", "/status/204")
    assert (no_content.status, no_content.body) == (204, b"")
    assert call("GET", "/status/99").status == 400
    text = call("POST", "/text")
    assert (text.status, text.content_type, text.body) == (200, "text/plain", b"plain text answer")
    empty = call("POST", "/empty")
    assert (empty.status, empty.body) == (200, b"")


# ---------------------------------------------------------------- configuration and CLI


def test_parser_defaults_and_validation() -> None:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.latency_ms, args.error_rate) == ("127.0.0.1", 8900, 0, 0)
    assert (args.seed, args.embedding_dim, args.port_file) == (0, 1536, None)
    assert (args.aws_access_key, args.aws_secret_key) == ("AKIAMOCKUPSTREAM", "mock-secret-key")
    with pytest.raises(SystemExit):
        parser.parse_args(["--error-rate", "1.5"])


@pytest.mark.parametrize(
    "fields", [{"error_rate": 1.5}, {"latency_ms": -1.0}, {"embedding_dim": 0}]
)
def test_config_rejects_out_of_range_values(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        MockConfig(**fields)


def test_main_binds_free_port_writes_port_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    command = [sys.executable, "-m", "tools.mock_upstream", "--port", "0", "--port-file"]
    popen = subprocess.Popen(
        [*command, str(port_file)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    with popen as proc:  # the context manager closes the pipe, avoiding a ResourceWarning
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()  # printed only after the port file is written
            port = int(port_file.read_text())
            assert line == f"mock-upstream listening on http://127.0.0.1:{port}"
            direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with direct.open(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
                assert json.load(resp) == {"status": "ok"}
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            assert not port_file.exists()
        finally:
            if proc.poll() is None:
                proc.kill()


# ---------------------------------------------------------------- hostile routes and tally


@pytest.mark.parametrize("code", [999, 600, 418, 302])
def test_hostile_status_answers_any_code(code: int) -> None:
    path = f"/hostile/status/{code}?location=http://elsewhere/&body=oops"
    reply = call("GET", path, allow_redirects=False)
    assert (reply.status, reply.body) == (code, b"oops")
    assert reply.headers["Location"] == "http://elsewhere/"


@pytest.mark.parametrize("kind", ["string", "floats", "text"])
def test_hostile_big_streams_about_the_asked_size(kind: str) -> None:
    reply = call("POST", f"/hostile/big?bytes=300000&kind={kind}&status=201")
    assert reply.status == 201 and 299_980 <= len(reply.body) <= 300_000
    if kind != "text":
        assert isinstance(reply.json()["data"], str if kind == "string" else list)


def test_hostile_gzip_is_small_and_inflates_to_the_asked_size() -> None:
    async def scenario(client: Client) -> tuple[int, int]:
        async with client.session.get(client.make_url("/hostile/gzip?mib=3")) as resp:
            assert resp.headers["Content-Encoding"] == "gzip"
            inflated = len(await resp.read())
            return int(resp.headers["Content-Length"]), inflated

    on_the_wire, inflated = run(scenario)
    assert on_the_wire < 10_000 and inflated == 3 * 1024 * 1024


def test_hostile_deep_bytes_and_headers() -> None:
    assert call("GET", "/hostile/deep?depth=3").body == b"[[[]]]"
    reply = call("GET", "/hostile/bytes?b64=_-4=&type=text/x-odd&status=207")
    assert (reply.status, reply.content_type, reply.body) == (207, "text/x-odd", b"\xff\xee")
    many = call("GET", "/hostile/headers?bytes=10&count=3")
    assert [many.headers[f"X-Huge-{i}"] for i in range(3)] == ["h" * 10] * 3


def test_tally_counts_requests_even_when_the_route_drops_them() -> None:
    async def scenario(client: Client) -> Any:
        for path in ("/post?tally=t1", "/hostile/status/500?tally=t1", "/health?tally=t2"):
            await _reply(client, "POST" if path.startswith("/post") else "GET", path)
        with pytest.raises(aiohttp.ClientError):
            await _reply(client, "POST", "/hostile/drop?tally=t1")
        with pytest.raises(aiohttp.ClientError):
            await _reply(client, "GET", "/hostile/reset?after=10&tally=t1")
        counts = [await _reply(client, "GET", f"/tally/{n}") for n in ("t1", "t2", "t3")]
        return [c.json()["count"] for c in counts]

    assert run(scenario) == [4, 1, 0]

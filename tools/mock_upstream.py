"""Local HTTP server imitating OpenAI, Cohere, SageMaker and Bedrock for tests and benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import hmac
import json
import math
import os
import random
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tools.arguments import fraction, non_negative_float, positive_int

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSONDict = dict[str, Any]

INJECTED_FAILURE = "mock upstream injected failure"
BAD_API_KEY = "Incorrect API key provided"
MISSING_TOKEN = "Missing Authentication Token"
BAD_TOKEN = "The security token included in the request is invalid."
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)
BEDROCK_MALFORMED = "Malformed input request, please reformat your input and try again."
SAGEMAKER_MALFORMED = (
    'Received client error (400) from primary with message "expected a JSON list of strings '
    'or an object with inputs".'
)
COHERE_EMBEDDING_TYPES = frozenset({"float", "int8", "uint8"})
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
# Benchmarks post large batches; aiohttp's 1 MiB default would reject them with 413.
MAX_BODY_BYTES = 64 * 1024 * 1024
# Distinguishes "body is not JSON" from a body that is the JSON literal null.
_NOT_JSON: Any = object()


@dataclass(frozen=True)
class MockConfig:
    """Behaviour knobs of one mock-upstream server."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    seed: int = 0
    aws_access_key: str = "AKIAMOCKUPSTREAM"
    aws_secret_key: str = "mock-secret-key"
    embedding_dim: int = 1536

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if self.embedding_dim < 1:
            raise ValueError("embedding_dim must be >= 1")


CONFIG_KEY = web.AppKey("mock_upstream_config", MockConfig)
ERROR_RNG_KEY = web.AppKey("mock_upstream_error_rng", random.Random)


@dataclass(frozen=True)
class SigV4Claim:
    """What an AWS4-HMAC-SHA256 Authorization header asserts about its request."""

    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


# ---------------------------------------------------------------- small helpers


def _word_count(text: str) -> int:
    return len(text.split())


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def _is_text_list(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _is_text_or_texts(value: Any) -> TypeGuard[str | list[str]]:
    return isinstance(value, str) or _is_text_list(value)


def _as_texts(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _usage(prompt_tokens: int, completion_tokens: int) -> JSONDict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _content_text(content: Any) -> str:
    """Text of a chat message's content, which is a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _last_user_text(messages: list[JSONDict]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _messages_word_count(messages: list[JSONDict]) -> int:
    return sum(_word_count(_content_text(m.get("content"))) for m in messages)


def _is_message_list(value: Any) -> TypeGuard[list[JSONDict]]:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in value)
    )


def embedding_vector(text: str, dim: int) -> list[float]:
    """Deterministic unit vector for text: equal texts embed identically in every process."""
    # sha256 rather than hash(): str hashing is salted per process.
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")
    rng = random.Random(seed)
    raw = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 6) for v in raw]


def _quantize(vector: list[float], kind: str) -> list[float] | list[int]:
    """Encode a float vector as Cohere does for one of its embedding_types."""
    if kind == "float":
        return vector
    # Scale by the peak so the integers use the whole range, as calibrated quantisation does.
    peak = max(abs(v) for v in vector) or 1.0
    signed = [round(v / peak * 127) for v in vector]
    return signed if kind == "int8" else [v + 128 for v in signed]


async def _read_json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except ValueError:  # also covers JSONDecodeError and UnicodeDecodeError
        return _NOT_JSON


async def _json_object(request: web.Request) -> JSONDict | None:
    body = await _read_json(request)
    return body if isinstance(body, dict) else None


def _bearer_token(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


# ---------------------------------------------------------------- error bodies


def _openai_error(status: int, message: str, **fields: Any) -> web.Response:
    return web.json_response({"error": {"message": message, **fields}}, status=status)


def _openai_invalid(message: str, param: str | None) -> web.Response:
    return _openai_error(400, message, type="invalid_request_error", param=param, code=None)


def _aws_error(status: int, error_type: str, message: str) -> web.Response:
    # botocore takes the error code of REST-JSON services from this header.
    headers = {"x-amzn-ErrorType": error_type}
    return web.json_response({"message": message}, status=status, headers=headers)


# ---------------------------------------------------------------- fault injection


def _upstream(handler: Handler) -> Handler:
    """Wrap a provider endpoint with the configured latency and random failures."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        config = request.app[CONFIG_KEY]
        # Drain the body first so a failing answer never races the client's upload.
        await request.read()
        if config.latency_ms > 0:
            await asyncio.sleep(config.latency_ms / 1000)
        if request.app[ERROR_RNG_KEY].random() < config.error_rate:
            return _openai_error(500, INJECTED_FAILURE, type="server_error")
        return await handler(request)

    return wrapped


# ---------------------------------------------------------------- OpenAI


async def _openai_body(
    request: web.Request, field: str, valid: Callable[[Any], bool]
) -> JSONDict | web.Response:
    """Authenticate and parse an OpenAI request; an error response when OpenAI would refuse."""
    if not _bearer_token(request):
        return _openai_error(
            401, BAD_API_KEY, type="invalid_request_error", param=None, code="invalid_api_key"
        )
    body = await _json_object(request)
    if body is None:
        return _openai_invalid("We could not parse the JSON body of your request.", None)
    if not isinstance(body.get("model"), str) or not body["model"]:
        return _openai_invalid("You must provide a model parameter.", "model")
    if not valid(body.get(field)):
        return _openai_invalid(f"Invalid value for '{field}'.", field)
    return body


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions: echo the last user message."""
    body = await _openai_body(request, "messages", _is_message_list)
    if isinstance(body, web.Response):
        return body
    messages: list[JSONDict] = body["messages"]
    reply = "Echo: " + _last_user_text(messages)
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": reply},
        "finish_reason": "stop",
    }
    return web.json_response(
        {
            "id": _new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [choice],
            "usage": _usage(_messages_word_count(messages), _word_count(reply)),
        }
    )


async def completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/completions: echo each prompt."""
    body = await _openai_body(request, "prompt", _is_text_or_texts)
    if isinstance(body, web.Response):
        return body
    prompts = _as_texts(body["prompt"])
    replies = ["Echo: " + prompt for prompt in prompts]
    choices = [
        {"text": reply, "index": i, "logprobs": None, "finish_reason": "stop"}
        for i, reply in enumerate(replies)
    ]
    prompt_tokens = sum(_word_count(p) for p in prompts)
    completion_tokens = sum(_word_count(r) for r in replies)
    return web.json_response(
        {
            "id": _new_id("cmpl-"),
            "object": "text_completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": choices,
            "usage": _usage(prompt_tokens, completion_tokens),
        }
    )


async def openai_embeddings(request: web.Request) -> web.StreamResponse:
    """POST /v1/embeddings: one deterministic vector per input text."""
    body = await _openai_body(request, "input", _is_text_or_texts)
    if isinstance(body, web.Response):
        return body
    texts = _as_texts(body["input"])
    dim = request.app[CONFIG_KEY].embedding_dim
    data = [
        {"object": "embedding", "index": i, "embedding": embedding_vector(text, dim)}
        for i, text in enumerate(texts)
    ]
    tokens = sum(_word_count(t) for t in texts)
    return web.json_response(
        {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


# ---------------------------------------------------------------- Cohere


def _cohere_result(body: JSONDict, dim: int) -> JSONDict | str:
    """Cohere embed response for body, or the reason Cohere would reject it."""
    texts = body.get("texts")
    if not _is_text_list(texts):
        return "invalid request: texts must be a non-empty list of strings"
    vectors = [embedding_vector(text, dim) for text in texts]
    result: JSONDict = {"id": str(uuid.uuid4()), "texts": texts}
    types = body.get("embedding_types")
    if types is None:
        return {**result, "embeddings": vectors, "response_type": "embeddings_floats"}
    if not _is_text_list(types) or not set(types) <= COHERE_EMBEDDING_TYPES:
        allowed = ", ".join(sorted(COHERE_EMBEDDING_TYPES))
        return f"invalid request: embedding_types must be a non-empty list of: {allowed}"
    by_type = {kind: [_quantize(v, kind) for v in vectors] for kind in types}
    return {**result, "embeddings": by_type, "response_type": "embeddings_by_type"}


async def cohere_embed(request: web.Request) -> web.StreamResponse:
    """POST /v1/embed: Cohere embeddings, floats or by type."""
    if not _bearer_token(request):
        return web.json_response({"message": "invalid api token"}, status=401)
    body = await _json_object(request)
    if body is None:
        return web.json_response({"message": "invalid request: body must be JSON"}, status=400)
    result = _cohere_result(body, request.app[CONFIG_KEY].embedding_dim)
    if isinstance(result, str):
        return web.json_response({"message": result}, status=400)
    result["meta"] = {"api_version": {"version": "1"}}
    return web.json_response(result)


# ---------------------------------------------------------------- AWS SigV4


def _split_param(param: str) -> tuple[str, str]:
    key, _, value = param.strip().partition("=")
    return key, value


def parse_sigv4_authorization(value: str) -> SigV4Claim | None:
    """Parse an AWS4-HMAC-SHA256 Authorization header; None when it is malformed."""
    algorithm, _, params = value.strip().partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        return None
    fields = dict(_split_param(p) for p in params.split(","))
    scope = fields.get("Credential", "").split("/")
    signed_headers = fields.get("SignedHeaders", "")
    signature = fields.get("Signature", "")
    if len(scope) != 5 or scope[4] != "aws4_request" or not signed_headers or not signature:
        return None
    access_key, date, region, service, _ = scope
    headers = tuple(signed_headers.split(";"))
    return SigV4Claim(access_key, date, region, service, headers, signature)


def _is_amz_date(value: str) -> bool:
    try:
        datetime.datetime.strptime(value, AMZ_DATE_FORMAT)
    except ValueError:
        return False
    return True


def _expected_signature(request: web.Request, claim: SigV4Claim, secret: str, body: bytes) -> str:
    """Recompute the signature with botocore from only what the client says it signed."""
    # raw_path keeps the percent-encoding that went over the wire (Bedrock model ids carry
    # %3A); botocore signs that form, double-encoding it in the canonical request.
    url = f"http://{request.host}{request.raw_path}"
    aws_request = AWSRequest(method=request.method, url=url, data=body)
    for name in claim.signed_headers:
        for value in request.headers.getall(name, []):
            aws_request.headers[name] = value  # HTTPHeaders appends, keeping repeats
    # Pinning the timestamp lets us call the signing steps without add_auth reading the clock.
    aws_request.context["timestamp"] = request.headers["X-Amz-Date"]
    token = request.headers.get("X-Amz-Security-Token")
    auth = SigV4Auth(Credentials(claim.access_key, secret, token), claim.service, claim.region)
    canonical = auth.canonical_request(aws_request)
    return auth.signature(auth.string_to_sign(aws_request, canonical), aws_request)


def _claim_denial(request: web.Request, claim: SigV4Claim, service: str) -> web.Response | None:
    """Refusals that need no cryptography: wrong key, service, date or signed-header set."""
    if claim.access_key != request.app[CONFIG_KEY].aws_access_key:
        return _aws_error(403, "UnrecognizedClientException", BAD_TOKEN)
    if claim.service != service:
        message = f"Credential should be scoped to correct service: '{service}'."
        return _aws_error(403, "InvalidSignatureException", message)
    if not _is_amz_date(request.headers.get("X-Amz-Date", "")):
        message = "Authorization header requires existence of a valid 'X-Amz-Date' header."
        return _aws_error(403, "IncompleteSignatureException", message)
    required = {"host", "x-amz-date"}
    if "X-Amz-Security-Token" in request.headers:
        required.add("x-amz-security-token")
    missing = sorted(required - set(claim.signed_headers))
    if missing:
        message = f"SignedHeaders must include: {';'.join(missing)}."
        return _aws_error(403, "InvalidSignatureException", message)
    return None


def _signature_holds(request: web.Request, claim: SigV4Claim, secret: str, body: bytes) -> bool:
    # botocore trusts a signed X-Amz-Content-SHA256 instead of hashing, so check it ourselves.
    claimed_hash = request.headers.get("X-Amz-Content-SHA256")
    if claimed_hash is not None and claimed_hash != hashlib.sha256(body).hexdigest():
        return False
    expected = _expected_signature(request, claim, secret, body).encode()
    # Bytes, because compare_digest rejects non-ASCII str and header values are client-chosen.
    return hmac.compare_digest(expected, claim.signature.encode("utf-8", "surrogateescape"))


async def _sigv4_denial(request: web.Request, service: str) -> web.Response | None:
    """The 403 AWS would send for this request to service, or None if its signature holds."""
    header = request.headers.get("Authorization")
    if not header:
        return _aws_error(403, "MissingAuthenticationTokenException", MISSING_TOKEN)
    claim = parse_sigv4_authorization(header)
    if claim is None:
        message = "Authorization header is not a well-formed AWS4-HMAC-SHA256 signature."
        return _aws_error(403, "IncompleteSignatureException", message)
    denial = _claim_denial(request, claim, service)
    if denial is not None:
        return denial
    secret = request.app[CONFIG_KEY].aws_secret_key
    if not _signature_holds(request, claim, secret, await request.read()):
        return _aws_error(403, "InvalidSignatureException", BAD_SIGNATURE)
    return None


# ---------------------------------------------------------------- SageMaker and Bedrock


async def sagemaker_invocations(request: web.Request) -> web.StreamResponse:
    """POST /endpoints/{endpoint_name}/invocations: embedding or text-generation container."""
    denial = await _sigv4_denial(request, "sagemaker")
    if denial is not None:
        return denial
    body = await _read_json(request)
    # botocore surfaces this header as InvokedProductionVariant.
    headers = {"x-Amzn-Invoked-Production-Variant": "AllTraffic"}
    if _is_text_list(body):
        dim = request.app[CONFIG_KEY].embedding_dim
        return web.json_response([embedding_vector(t, dim) for t in body], headers=headers)
    if isinstance(body, dict) and _is_text_or_texts(body.get("inputs")):
        generated = [{"generated_text": "Echo: " + t} for t in _as_texts(body["inputs"])]
        return web.json_response(generated, headers=headers)
    return _aws_error(424, "ModelError", SAGEMAKER_MALFORMED)


def _anthropic_result(model_id: str, messages: list[JSONDict]) -> JSONDict:
    reply = "Echo: " + _last_user_text(messages)
    return {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model_id,
        "content": [{"type": "text", "text": reply}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": _messages_word_count(messages),
            "output_tokens": _word_count(reply),
        },
    }


def _bedrock_result(model_id: str, body: JSONDict, dim: int) -> JSONDict | None:
    """Answer in the format of the model family the body is shaped for; None if none fits."""
    text = body.get("inputText")
    if isinstance(text, str):
        return {"embedding": embedding_vector(text, dim), "inputTextTokenCount": _word_count(text)}
    if _is_message_list(body.get("messages")):
        return _anthropic_result(model_id, body["messages"])
    if "texts" in body:
        result = _cohere_result(body, dim)
        return None if isinstance(result, str) else result
    return None


async def bedrock_invoke(request: web.Request) -> web.StreamResponse:
    """POST /model/{model_id}/invoke: Titan, Anthropic or Cohere behind Bedrock."""
    denial = await _sigv4_denial(request, "bedrock")
    if denial is not None:
        return denial
    body = await _json_object(request)
    dim = request.app[CONFIG_KEY].embedding_dim
    result = None if body is None else _bedrock_result(request.match_info["model_id"], body, dim)
    if result is None:
        return _aws_error(400, "ValidationException", BEDROCK_MALFORMED)
    return web.json_response(result)


# ---------------------------------------------------------------- httpbin-like helpers


def _query_dict(request: web.Request) -> dict[str, str | list[str]]:
    query: dict[str, str | list[str]] = {}
    for key in request.query:
        values = request.query.getall(key)
        query[key] = values[0] if len(values) == 1 else values
    return query


def _header_dict(request: web.Request) -> dict[str, str]:
    return {name.lower(): ", ".join(request.headers.getall(name)) for name in request.headers}


async def echo(request: web.Request) -> web.StreamResponse:
    """GET /get and POST /post: describe exactly what arrived."""
    raw = await request.read()
    parsed = await _read_json(request) if raw else None
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": _query_dict(request),
            "headers": _header_dict(request),
            "json": None if parsed is _NOT_JSON else parsed,
            "data": raw.decode("utf-8", errors="replace"),
        }
    )


async def status(request: web.Request) -> web.StreamResponse:
    """Any method on /status/{code}: answer with that status."""
    code = int(request.match_info["code"])
    if not 200 <= code <= 599:
        return web.json_response({"error": "status must be between 200 and 599"}, status=400)
    if code in (204, 205, 304):  # HTTP forbids a body on these
        return web.Response(status=code)
    return web.json_response({"status": code}, status=code)


async def plain_text(request: web.Request) -> web.StreamResponse:
    """POST /text: a body that is not JSON."""
    return web.Response(text="plain text answer", content_type="text/plain")


async def empty(request: web.Request) -> web.StreamResponse:
    """POST /empty: 200 with no body."""
    return web.Response(status=200)


async def health(request: web.Request) -> web.StreamResponse:
    """GET /health: liveness, exempt from latency and failure injection."""
    return web.json_response({"status": "ok"})


# ---------------------------------------------------------------- app and CLI


def create_app(config: MockConfig) -> web.Application:
    """Build the mock-upstream application for config."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[CONFIG_KEY] = config
    # One RNG per app, so a seed replays the same failure sequence in every run.
    app[ERROR_RNG_KEY] = random.Random(config.seed)
    app.router.add_routes(
        [
            web.post("/v1/chat/completions", _upstream(chat_completions)),
            web.post("/v1/completions", _upstream(completions)),
            web.post("/v1/embeddings", _upstream(openai_embeddings)),
            web.post("/v1/embed", _upstream(cohere_embed)),
            web.post("/endpoints/{endpoint_name}/invocations", _upstream(sagemaker_invocations)),
            web.post("/model/{model_id}/invoke", _upstream(bedrock_invoke)),
            web.post("/post", echo),
            web.get("/get", echo),
            web.route("*", r"/status/{code:\d{1,3}}", status),
            web.post("/text", plain_text),
            web.post("/empty", empty),
            web.get("/health", health),
        ]
    )
    return app


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the mock-upstream flags to parser."""
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    add("--port", type=int, default=8900, help="port to bind; 0 picks a free one")
    add("--latency-ms", type=non_negative_float, default=0.0, help="delay added to provider calls")
    add("--error-rate", type=fraction, default=0.0, help="share of provider calls failing (500)")
    add("--seed", type=int, default=0, help="seed of the failure-injection RNG")
    add("--aws-access-key", default="AKIAMOCKUPSTREAM", help="access key SigV4 must use")
    add("--aws-secret-key", default="mock-secret-key", help="secret key SigV4 must use")
    add("--embedding-dim", type=positive_int, default=1536, help="length of embedding vectors")
    add("--port-file", type=Path, default=None, help="write the bound port here once listening")


def _config_from_args(args: argparse.Namespace) -> MockConfig:
    return MockConfig(
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        seed=args.seed,
        aws_access_key=args.aws_access_key,
        aws_secret_key=args.aws_secret_key,
        embedding_dim=args.embedding_dim,
    )


def _write_port_file(path: Path, port: int) -> None:
    # Write then rename, so a parent polling for the file never reads a half-written number.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(str(port))
    os.replace(partial, path)


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _wait_for_shutdown_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _serve(config: MockConfig, host: str, port: int, port_file: Path | None) -> None:
    runner = web.AppRunner(create_app(config))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        # The runner knows the real port even when port 0 asked the OS to choose one.
        bound_port = int(runner.addresses[0][1])
        if port_file is not None:
            _write_port_file(port_file, bound_port)
        print(f"mock-upstream listening on {_base_url(host, bound_port)}", flush=True)
        await _wait_for_shutdown_signal()
    finally:
        await runner.cleanup()
        # A stale port file would point the next parent at a port nobody listens on.
        if port_file is not None:
            port_file.unlink(missing_ok=True)


def main(args: argparse.Namespace) -> int:
    """Serve in the foreground until SIGINT or SIGTERM; the process exit status."""
    try:
        asyncio.run(_serve(_config_from_args(args), args.host, args.port, args.port_file))
    except OSError as exc:
        print(f"mock-upstream: {exc}", file=sys.stderr)
        return 1
    return 0


def _cli() -> int:
    parser = argparse.ArgumentParser(prog="mock-upstream", description=__doc__)
    configure_parser(parser)
    return main(parser.parse_args())


if __name__ == "__main__":
    sys.exit(_cli())

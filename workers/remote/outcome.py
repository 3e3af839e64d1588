"""Turn a remote model's answer into ML Commons' inference_results, or an error.

Shaping follows ML Commons: a built-in post_process_function turns embeddings (or rerank
scores, ...) into tensors; a Painless one runs (workers/remote/scripted.py); otherwise
response_filter (JSONPath) picks part of the body; otherwise the whole JSON body becomes
dataAsMap ({"response": ...} for arrays, scalars and non-JSON text).

Statuses: 200-300 succeed; a 4xx or 5xx is relayed with "Error from remote service: <body>"
as ML Commons does; anything else (1xx, 3xx, nonsense like 600 or 999) is a 502 naming it,
so a client never gets a status HTTP does not define or a redirect without a Location.
Upstream text in a reason is quoted (bounded); JSON nesting is bounded like request bodies.
"""

from __future__ import annotations

from typing import Any

import msgspec

from common import painless
from common.errors import IllegalArgumentError, RemoteModelError
from common.json_depth import MAX_DEPTH, nesting_depth
from workers.remote import post_functions, scripted
from workers.remote.http import Answer, is_success, quote
from workers.remote.jsonpath import MISSING, query

# Built-in post-process function -> (default JSONPath, one vector instead of a list of them).
EMBEDDING_FUNCTIONS: dict[str, tuple[str, bool]] = {
    "connector.post_process.openai.embedding": ("$.data[*].embedding", False),
    "connector.post_process.cohere.embedding": ("$.embeddings", False),
    "connector.post_process.default.embedding": ("$[*]", False),
    "connector.post_process.bedrock.embedding": ("$.embedding", True),
    "connector.post_process.bedrock.nova.embedding": ("$.embeddings[*].embedding", False),
}
for _kind in ("float", "int8", "uint8", "binary", "ubinary"):
    EMBEDDING_FUNCTIONS[f"connector.post_process.cohere_v2.embedding.{_kind}"] = (
        f"$.embeddings.{_kind}",
        False,
    )
for _kind in ("float", "binary"):
    EMBEDDING_FUNCTIONS[f"connector.post_process.bedrock_v2.embedding.{_kind}"] = (
        f"$.embeddingsByType.{_kind}",
        True,
    )
DATA_TYPES = ("INT8", "UINT8", "UBINARY", "BINARY", "FLOAT16", "FLOAT64", "FLOAT32")
NOT_EMBEDDINGS = "The embedding should be a non-empty List containing List of Float values."


def inference_results_body(results: list[dict[str, Any] | msgspec.Raw]) -> str:
    """Return the predict response body: compact JSON, key order and non-ASCII kept."""
    # msgspec writes one buffer: no per-value chunk list as json.dumps builds for big answers.
    return msgspec.json.encode({"inference_results": results}).decode()


def inference_result(
    answer: Answer,
    *,
    response_filter: str | None = None,
    post_process: str | None = None,
    script: painless.Script | None = None,
) -> dict[str, Any]:
    """Return one inference_results entry for a remote answer, or raise its error.

    A post_process that is a Painless script runs as `script` when the caller holds it
    compiled (a node's prepared model), else compiled from the text (cached per process).
    """
    _raise_for_status(answer)
    if painless.is_script(post_process):
        assert post_process is not None
        compiled = script or painless.cached(post_process, "script in post_process_function")
        output = _scripted(answer.body, compiled, response_filter)
        return {"output": output, "status_code": answer.status}
    data = _parse(answer.body)
    if post_process in EMBEDDING_FUNCTIONS:
        output = _embedding_tensors(data, post_process, response_filter)
    elif post_process in post_functions.DEFAULT_PATHS:
        output = post_functions.apply(post_process, data, response_filter)
    else:
        output = [{"name": "response", "dataAsMap": _filtered(data, response_filter)}]
    return {"output": output, "status_code": answer.status}


def _scripted(
    body: str, script: painless.Script, response_filter: str | None
) -> list[dict[str, Any]]:
    """ML Commons' processOutput for a script: its JSON is tensors, null keeps the answer."""
    text = scripted.run_post_process(script, body)
    if text is None:
        return [{"name": "response", "dataAsMap": _filtered(_parse(body), response_filter)}]
    if response_filter:
        parsed = _parse(scripted.as_text(text))
        return [{"name": "response", "dataAsMap": _filtered(parsed, response_filter)}]
    tensors = scripted.tensors_or_text(text)
    if tensors is None:
        return [{"name": "response", "dataAsMap": {"response": scripted.as_text(text)}}]
    return tensors


def _raise_for_status(answer: Answer) -> None:
    if is_success(answer.status):
        if not answer.body.strip():
            raise RemoteModelError("Remote service returned empty response body", status=502)
        return
    relayed = 400 <= answer.status <= 599
    if not relayed:
        raise RemoteModelError(_unusable_status(answer), status=502)
    if answer.body.strip():
        body = quote(answer.body, cut=answer.cut)
        raise RemoteModelError(f"Error from remote service: {body}", status=answer.status)
    raise RemoteModelError(
        f"Remote service returned error status {answer.status} with empty body",
        status=answer.status,
    )


def _unusable_status(answer: Answer) -> str:
    if 300 <= answer.status <= 399:
        what = f"redirect status {answer.status}, which is not followed"
    else:
        what = f"invalid HTTP status {answer.status}"
    body = f": {quote(answer.body, cut=answer.cut)}" if answer.body.strip() else ""
    return f"Remote service answered with {what}{body}"


def _parse(body: str) -> Any:
    """The JSON value of body, or body itself when it is not (strict) JSON."""
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:  # also NaN, 1e999 and lone surrogates: not JSON
        return body
    except RecursionError:
        raise _too_deep() from None
    # Counting brackets in the text is cheap; walking a large answer is not.
    could_nest = body.count("[") + body.count("{") > MAX_DEPTH
    if could_nest and nesting_depth(value) > MAX_DEPTH:
        raise _too_deep()
    return value


def _too_deep() -> RemoteModelError:
    return RemoteModelError(
        f"Remote service response nests deeper than {MAX_DEPTH} levels", status=502
    )


def _as_map(value: Any) -> dict[str, Any]:
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        value = _parse(value)
    return value if isinstance(value, dict) else {"response": value}


def _filtered(data: Any, response_filter: str | None) -> dict[str, Any]:
    if response_filter and not isinstance(data, str):
        picked = query(data, response_filter)
        if picked is not MISSING:
            # ML Commons (AbstractConnector.parseResponse) parses only a picked *string*
            # holding JSON into dataAsMap; any other value, an object included, goes under
            # "response" (the Comprehend blueprint's "$" filter shows {"response": {...}}).
            return _as_map(picked) if isinstance(picked, str) else {"response": picked}
    return _as_map(data) if not isinstance(data, str) else {"response": data}


def _embedding_tensors(data: Any, function: str, response_filter: str | None) -> list[Any]:
    default_path, single = EMBEDDING_FUNCTIONS[function]
    path = response_filter or default_path
    picked = query(data, path) if not isinstance(data, str) else MISSING
    vectors = [picked] if single else picked
    if not isinstance(vectors, list) or not vectors or not all(_is_vector(v) for v in vectors):
        raise IllegalArgumentError(NOT_EMBEDDINGS)
    data_type = next((t for t in DATA_TYPES if f".{t}" in path.upper()), "FLOAT32")
    return [
        {"name": "sentence_embedding", "data_type": data_type, "shape": [len(v)], "data": v}
        for v in vectors
    ]


def _is_vector(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in value
    )

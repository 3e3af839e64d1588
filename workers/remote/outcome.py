"""Turn a remote model's answer into ML Commons' inference_results, or an error.

Shaping follows ML Commons: a built-in post_process_function turns embeddings into tensors;
otherwise response_filter (JSONPath) picks part of the body; otherwise the whole JSON body
becomes dataAsMap ({"response": ...} for arrays, scalars and non-JSON text).
"""

from __future__ import annotations

import json
from typing import Any

from common.errors import IllegalArgumentError, RemoteModelError
from workers.remote.http import Answer
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


def inference_results_body(results: list[dict[str, Any]]) -> str:
    """Return the predict response body: compact JSON, key order and non-ASCII kept."""
    return json.dumps({"inference_results": results}, ensure_ascii=False, separators=(",", ":"))


def inference_result(
    answer: Answer, *, response_filter: str | None = None, post_process: str | None = None
) -> dict[str, Any]:
    """Return one inference_results entry for a remote answer, or raise its error."""
    _raise_for_status(answer)
    data = _parse(answer.body)
    if post_process in EMBEDDING_FUNCTIONS:
        output = _embedding_tensors(data, post_process, response_filter)
    else:
        output = [{"name": "response", "dataAsMap": _filtered(data, response_filter)}]
    return {"output": output, "status_code": answer.status}


def _raise_for_status(answer: Answer) -> None:
    if not 200 <= answer.status <= 300:
        if answer.body.strip():
            raise RemoteModelError(
                f"Error from remote service: {answer.body}", status=answer.status
            )
        raise RemoteModelError(
            f"Remote service returned error status {answer.status} with empty body",
            status=answer.status,
        )
    if not answer.body.strip():
        raise RemoteModelError("Remote service returned empty response body", status=502)


def _parse(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


def _as_map(value: Any) -> dict[str, Any]:
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        value = _parse(value)
    return value if isinstance(value, dict) else {"response": value}


def _filtered(data: Any, response_filter: str | None) -> dict[str, Any]:
    if response_filter and not isinstance(data, str):
        picked = query(data, response_filter)
        if picked is not MISSING:
            return _as_map(picked)
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

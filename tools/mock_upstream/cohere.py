"""Cohere imitation: embed, as floats or quantised by embedding type."""

from __future__ import annotations

import uuid

from aiohttp import web

from tools.mock_upstream.config import CONFIG_KEY
from tools.mock_upstream.inputs import JSONDict, bearer_token, is_text_list, json_object
from tools.mock_upstream.model import embedding_vector

COHERE_EMBEDDING_TYPES = frozenset({"float", "int8", "uint8"})


def _quantize(vector: list[float], kind: str) -> list[float] | list[int]:
    """Encode a float vector as Cohere does for one of its embedding_types."""
    if kind == "float":
        return vector
    # Scale by the peak so the integers use the whole range, as calibrated quantisation does.
    peak = max(abs(v) for v in vector) or 1.0
    signed = [round(v / peak * 127) for v in vector]
    return signed if kind == "int8" else [v + 128 for v in signed]


def cohere_result(body: JSONDict, dim: int) -> JSONDict | str:
    """Cohere embed response for body, or the reason Cohere would reject it."""
    texts = body.get("texts")
    if not is_text_list(texts):
        return "invalid request: texts must be a non-empty list of strings"
    vectors = [embedding_vector(text, dim) for text in texts]
    result: JSONDict = {"id": str(uuid.uuid4()), "texts": texts}
    types = body.get("embedding_types")
    if types is None:
        return {**result, "embeddings": vectors, "response_type": "embeddings_floats"}
    if not is_text_list(types) or not set(types) <= COHERE_EMBEDDING_TYPES:
        allowed = ", ".join(sorted(COHERE_EMBEDDING_TYPES))
        return f"invalid request: embedding_types must be a non-empty list of: {allowed}"
    by_type = {kind: [_quantize(v, kind) for v in vectors] for kind in types}
    return {**result, "embeddings": by_type, "response_type": "embeddings_by_type"}


async def cohere_embed(request: web.Request) -> web.StreamResponse:
    """POST /v1/embed: Cohere embeddings, floats or by type."""
    if not bearer_token(request):
        return web.json_response({"message": "invalid api token"}, status=401)
    body = await json_object(request)
    if body is None:
        return web.json_response({"message": "invalid request: body must be JSON"}, status=400)
    result = cohere_result(body, request.app[CONFIG_KEY].embedding_dim)
    if isinstance(result, str):
        return web.json_response({"message": result}, status=400)
    result["meta"] = {"api_version": {"version": "1"}}
    return web.json_response(result)

"""Yandex Cloud AI Studio imitation: foundationModels textEmbedding and OpenAI-style embeddings."""

from __future__ import annotations

from aiohttp import web

from tools.mock_upstream.inputs import as_texts, is_text_or_texts, json_object
from tools.mock_upstream.model import embedding_vector, word_count
from tools.mock_upstream.openai import openai_embeddings

YANDEX_DIM = 256


async def text_embedding(request: web.Request) -> web.StreamResponse:
    """POST /foundationModels/v1/textEmbedding: {"text", "modelUri"} to one embedding."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme not in ("Api-Key", "Bearer") or not key.strip():
        return web.json_response(
            {"error": {"grpcCode": 16, "httpCode": 401, "message": "Unauthorized"}}, status=401
        )
    body = await json_object(request)
    text = None if body is None else body.get("text")
    uri = None if body is None else body.get("modelUri")
    if not isinstance(text, str) or not isinstance(uri, str) or not uri.startswith("emb://"):
        message = "text and an emb:// modelUri are required"
        return web.json_response(
            {"error": {"grpcCode": 3, "httpCode": 400, "message": message}}, status=400
        )
    return web.json_response(
        {
            "embedding": embedding_vector(text, YANDEX_DIM),
            "numTokens": str(word_count(text)),
            "modelVersion": "mock",
        }
    )


async def yandex_or_openai_embeddings(request: web.Request) -> web.StreamResponse:
    """POST /v1/embeddings: Yandex's OpenAI-compatible API (Api-Key auth), else OpenAI's."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Api-Key":
        return await openai_embeddings(request)
    body = await json_object(request)
    texts = None if body is None else body.get("input")
    uri = None if body is None else body.get("model")
    if not key.strip() or not is_text_or_texts(texts) or not isinstance(uri, str):
        message = "input (a string or list of strings) and model are required"
        return web.json_response(
            {"error": {"message": message, "type": "invalid_request"}}, status=400
        )
    items = as_texts(texts)
    tokens = sum(word_count(t) for t in items)
    data = [
        {"object": "embedding", "index": i, "embedding": embedding_vector(t, YANDEX_DIM)}
        for i, t in enumerate(items)
    ]
    return web.json_response(
        {
            "object": "list",
            "data": data,
            "model": uri,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )

"""Aleph Alpha imitation: semantic_embed of one prompt."""

from __future__ import annotations

from aiohttp import web

from tools.mock_upstream.inputs import bearer_token, json_object
from tools.mock_upstream.model import embedding_vector, word_count

LUMINOUS_BASE_DIM = 5120


async def semantic_embed(request: web.Request) -> web.StreamResponse:
    """POST /semantic_embed: {"model", "prompt", "representation"} to one embedding."""
    if not bearer_token(request):
        return web.json_response({"error": "Unauthorized", "code": "UNAUTHENTICATED"}, status=401)
    body = await json_object(request)
    prompt = None if body is None else body.get("prompt")
    representation = None if body is None else body.get("representation")
    if not isinstance(prompt, str) or representation not in ("symmetric", "document", "query"):
        message = "prompt must be a string and representation one of symmetric, document, query"
        return web.json_response({"error": message, "code": "INVALID_INPUT"}, status=400)
    return web.json_response(
        {
            "model_version": "2022-04",
            "embedding": embedding_vector(prompt, LUMINOUS_BASE_DIM),
            "num_tokens_prompt_total": word_count(prompt),
        }
    )

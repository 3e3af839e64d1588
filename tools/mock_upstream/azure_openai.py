"""Azure OpenAI imitation: chat completions and embeddings of a named deployment.

Azure authenticates with an api-key header, takes the model from the deployment in the path
(the body has none) and adds its content-filter verdicts to chat answers.
"""

from __future__ import annotations

import time

from aiohttp import web

from tools.mock_upstream.config import CONFIG_KEY
from tools.mock_upstream.inputs import (
    JSONDict,
    as_texts,
    is_message_list,
    is_text_or_texts,
    json_object,
)
from tools.mock_upstream.model import (
    embedding_vector,
    last_user_text,
    messages_word_count,
    new_id,
    reply_to,
    word_count,
)
from tools.mock_upstream.openai import openai_error

SAFE = {"filtered": False, "severity": "safe"}
CATEGORIES = ("hate", "self_harm", "sexual", "violence")


def _filters() -> JSONDict:
    return {category: dict(SAFE) for category in CATEGORIES}


async def _azure_body(request: web.Request, field: str, valid: object) -> JSONDict | web.Response:
    if not request.headers.get("api-key"):
        message = "Access denied due to missing subscription key."
        return web.json_response({"error": {"code": "401", "message": message}}, status=401)
    if not request.query.get("api-version"):
        return openai_error(404, "Resource not found", code="404")
    body = await json_object(request)
    if body is None or not callable(valid) or not valid(body.get(field)):
        return openai_error(400, f"'{field}' is a required property", type="invalid_request_error")
    return body


async def azure_chat(request: web.Request) -> web.StreamResponse:
    """POST /openai/deployments/{deployment}/chat/completions?api-version=..."""
    body = await _azure_body(request, "messages", is_message_list)
    if isinstance(body, web.Response):
        return body
    messages: list[JSONDict] = body["messages"]
    reply = reply_to(last_user_text(messages))
    prompt, completion = messages_word_count(messages), word_count(reply)
    return web.json_response(
        {
            "id": new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.match_info["deployment"],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _filters()}],
            "choices": [
                {
                    "finish_reason": "stop",
                    "index": 0,
                    "message": {"role": "assistant", "content": reply},
                    "content_filter_results": _filters(),
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
    )


async def azure_embeddings(request: web.Request) -> web.StreamResponse:
    """POST /openai/deployments/{deployment}/embeddings?api-version=..."""
    body = await _azure_body(request, "input", is_text_or_texts)
    if isinstance(body, web.Response):
        return body
    texts = as_texts(body["input"])
    dim = request.app[CONFIG_KEY].embedding_dim
    tokens = sum(word_count(t) for t in texts)
    return web.json_response(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": embedding_vector(t, dim)}
                for i, t in enumerate(texts)
            ],
            "model": request.match_info["deployment"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def routes() -> list[web.RouteDef]:
    base = "/openai/deployments/{deployment}"
    return [
        web.post(base + "/chat/completions", azure_chat),
        web.post(base + "/embeddings", azure_embeddings),
    ]

"""OpenAI imitation: chat completions, legacy completions and embeddings, with its error bodies."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tools.mock_upstream.config import CONFIG_KEY
from tools.mock_upstream.inputs import (
    JSONDict,
    as_texts,
    bearer_token,
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

BAD_API_KEY = "Incorrect API key provided"


def openai_error(status: int, message: str, **fields: Any) -> web.Response:
    """An error answer in OpenAI's {"error": {...}} shape."""
    return web.json_response({"error": {"message": message, **fields}}, status=status)


def _openai_invalid(message: str, param: str | None) -> web.Response:
    return openai_error(400, message, type="invalid_request_error", param=param, code=None)


def _usage(prompt_tokens: int, completion_tokens: int) -> JSONDict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


async def _openai_body(
    request: web.Request, field: str, valid: Callable[[Any], bool]
) -> JSONDict | web.Response:
    """Authenticate and parse an OpenAI request; an error response when OpenAI would refuse."""
    if not bearer_token(request):
        return openai_error(
            401, BAD_API_KEY, type="invalid_request_error", param=None, code="invalid_api_key"
        )
    body = await json_object(request)
    if body is None:
        return _openai_invalid("We could not parse the JSON body of your request.", None)
    if not isinstance(body.get("model"), str) or not body["model"]:
        return _openai_invalid("You must provide a model parameter.", "model")
    if not valid(body.get(field)):
        return _openai_invalid(f"Invalid value for '{field}'.", field)
    return body


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions: echo the last user message."""
    body = await _openai_body(request, "messages", is_message_list)
    if isinstance(body, web.Response):
        return body
    messages: list[JSONDict] = body["messages"]
    reply = reply_to(last_user_text(messages))
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": reply},
        "finish_reason": "stop",
    }
    return web.json_response(
        {
            "id": new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [choice],
            "usage": _usage(messages_word_count(messages), word_count(reply)),
        }
    )


async def completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/completions: echo each prompt."""
    body = await _openai_body(request, "prompt", is_text_or_texts)
    if isinstance(body, web.Response):
        return body
    prompts = as_texts(body["prompt"])
    replies = [reply_to(prompt) for prompt in prompts]
    choices = [
        {"text": reply, "index": i, "logprobs": None, "finish_reason": "stop"}
        for i, reply in enumerate(replies)
    ]
    prompt_tokens = sum(word_count(p) for p in prompts)
    completion_tokens = sum(word_count(r) for r in replies)
    return web.json_response(
        {
            "id": new_id("cmpl-"),
            "object": "text_completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": choices,
            "usage": _usage(prompt_tokens, completion_tokens),
        }
    )


async def openai_embeddings(request: web.Request) -> web.StreamResponse:
    """POST /v1/embeddings: one deterministic vector per input text."""
    body = await _openai_body(request, "input", is_text_or_texts)
    if isinstance(body, web.Response):
        return body
    texts = as_texts(body["input"])
    dim = request.app[CONFIG_KEY].embedding_dim
    data = [
        {"object": "embedding", "index": i, "embedding": embedding_vector(text, dim)}
        for i, text in enumerate(texts)
    ]
    tokens = sum(word_count(t) for t in texts)
    return web.json_response(
        {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )

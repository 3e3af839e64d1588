"""Cohere chat (v1 message and v2 messages) and embed of images, beside cohere.py's text embed."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from tools.mock_upstream.cohere import cohere_embed
from tools.mock_upstream.config import CONFIG_KEY
from tools.mock_upstream.inputs import (
    JSONDict,
    bearer_token,
    is_message_list,
    is_text_list,
    json_object,
)
from tools.mock_upstream.model import (
    embedding_vector,
    last_user_text,
    messages_word_count,
    reply_to,
    word_count,
)

IMAGE_PREFIX = "data:image/"


def _refusal(request: web.Request, body: JSONDict | None) -> web.Response | None:
    if not bearer_token(request):
        return web.json_response({"message": "invalid api token"}, status=401)
    if body is None:
        return web.json_response({"message": "invalid request: body must be JSON"}, status=400)
    return None


def _units(prompt: int, reply: int) -> JSONDict:
    return {"input_tokens": prompt, "output_tokens": reply}


async def cohere_chat_v1(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat: one message in, one text out."""
    body = await json_object(request)
    refusal = _refusal(request, body)
    if refusal is not None:
        return refusal
    assert body is not None  # _refusal answered a body that is not JSON
    message: Any = body.get("message")
    if not isinstance(message, str) or not message:
        return web.json_response(
            {"message": "invalid request: message must be a string"}, status=400
        )
    reply = reply_to(message)
    prompt, out = word_count(message), word_count(reply)
    return web.json_response(
        {
            "response_id": str(uuid.uuid4()),
            "text": reply,
            "generation_id": str(uuid.uuid4()),
            "finish_reason": "COMPLETE",
            "token_count": {
                "prompt_tokens": prompt,
                "response_tokens": out,
                "total_tokens": prompt + out,
                "billed_tokens": prompt + out,
            },
            "meta": {"api_version": {"version": "1"}, "billed_units": _units(prompt, out)},
        }
    )


async def cohere_chat_v2(request: web.Request) -> web.StreamResponse:
    """POST /v2/chat: OpenAI-style messages in, a content list out."""
    body = await json_object(request)
    refusal = _refusal(request, body)
    if refusal is not None:
        return refusal
    assert body is not None  # _refusal answered a body that is not JSON
    messages: Any = body.get("messages")
    if not is_message_list(messages) or not isinstance(body.get("model"), str):
        message = "invalid request: model and messages are required"
        return web.json_response({"message": message}, status=400)
    reply = reply_to(last_user_text(messages))
    prompt, out = messages_word_count(messages), word_count(reply)
    return web.json_response(
        {
            "id": str(uuid.uuid4()),
            "message": {"role": "assistant", "content": [{"type": "text", "text": reply}]},
            "finish_reason": "COMPLETE",
            "usage": {"billed_units": _units(prompt, out), "tokens": _units(prompt, out)},
        }
    )


def _image_meta(uri: str) -> JSONDict:
    kind = uri[len(IMAGE_PREFIX) :].split(";", 1)[0]
    return {"width": 1, "height": 1, "format": kind, "bit_depth": 8}


async def cohere_embed_any(request: web.Request) -> web.StreamResponse:
    """POST /v1/embed and /v2/embed: images (data URIs) here, texts in cohere.py."""
    body = await json_object(request)
    if body is None or "images" not in body:
        return await cohere_embed(request)
    refusal = _refusal(request, body)
    if refusal is not None:
        return refusal
    images = body["images"]
    if not is_text_list(images) or not all(i.startswith(IMAGE_PREFIX) for i in images):
        message = "invalid request: images must be a list of data:image/...;base64 URIs"
        return web.json_response({"message": message}, status=400)
    dim = request.app[CONFIG_KEY].embedding_dim
    return web.json_response(
        {
            "id": str(uuid.uuid4()),
            "texts": [],
            "images": [_image_meta(uri) for uri in images],
            "embeddings": [embedding_vector(uri, dim) for uri in images],
            "meta": {"api_version": {"version": "1"}, "billed_units": {"images": len(images)}},
            "response_type": "embeddings_floats",
        }
    )


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/chat", cohere_chat_v1),
        web.post("/v2/chat", cohere_chat_v2),
        web.post("/v2/embed", cohere_embed_any),
    ]

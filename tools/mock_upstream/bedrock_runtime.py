"""Bedrock runtime model families beyond the basic invoke imitation.

InvokeModel bodies decide the family, as Bedrock's model ids do: AI21 Jurassic (prompt and
maxTokens), Claude text completions (prompt and max_tokens_to_sample), Claude messages with
extended thinking, Titan text v2 (embeddingTypes, dimensions), Titan multimodal (inputImage)
and Nova multimodal embeddings (taskType). Anything else, plain Claude messages included, goes
on to the basic imitation in bedrock.py. Also Converse and the OpenAI-compatible chat endpoint
(GPT-OSS models).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tools.mock_upstream.bedrock import BEDROCK_MALFORMED, bedrock_invoke
from tools.mock_upstream.config import CONFIG_KEY
from tools.mock_upstream.inputs import JSONDict, is_message_list, json_object
from tools.mock_upstream.model import (
    embedding_vector,
    last_user_text,
    messages_word_count,
    new_id,
    reply_to,
    word_count,
)
from tools.mock_upstream.sigv4 import aws_error, sigv4_denial

# Output sizes of models whose size differs from the mock's configured default.
MODEL_DIMENSIONS = {"amazon.titan-embed-image-v1": 1024, "amazon.titan-embed-text-v2:0": 1024}
NOVA_MODALITIES = ("text", "image", "video", "audio")
NOVA_NO_INPUT = (
    "Malformed input request: singleEmbeddingParams needs one of text.value, image.source.bytes, "
    "video.source.bytes or audio.source.bytes"
)
Family = Callable[[str, JSONDict, int], JSONDict | None]


def _ai21(model: str, body: JSONDict, dim: int) -> JSONDict | None:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or "maxTokens" not in body:
        return None
    reply = reply_to(prompt)
    return {
        "id": 1234,
        "prompt": {"text": prompt, "tokens": []},
        "completions": [
            {"data": {"text": reply, "tokens": []}, "finishReason": {"reason": "endoftext"}}
        ],
    }


def _claude_text(model: str, body: JSONDict, dim: int) -> JSONDict | None:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or "max_tokens_to_sample" not in body:
        return None
    question = prompt.rsplit("Human:", 1)[-1].split("Assistant:", 1)[0].strip()
    return {"completion": " " + reply_to(question), "stop_reason": "stop_sequence"}


def _claude_thinking(model: str, body: JSONDict, dim: int) -> JSONDict | None:
    """Claude messages with extended thinking: a thinking block before the text."""
    messages, thinking = body.get("messages"), body.get("thinking")
    if not is_message_list(messages) or not isinstance(thinking, dict):
        return None
    if thinking.get("type") != "enabled" or "anthropic_version" not in body:
        return None
    reply = reply_to(last_user_text(messages))
    content: list[JSONDict] = [
        {"type": "thinking", "thinking": "The user said hello.", "signature": "c2ln"},
        {"type": "text", "text": reply},
    ]
    return {
        "id": new_id("msg_bdrk_"),
        "type": "message",
        "role": "assistant",
        "model": model.split(".", 1)[-1].rsplit("-v", 1)[0],
        "content": content,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": messages_word_count(messages),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": word_count(reply),
        },
    }


def _titan(model: str, body: JSONDict, dim: int) -> JSONDict | None:
    text, image = body.get("inputText"), body.get("inputImage")
    has_text, has_image = isinstance(text, str), isinstance(image, str) and bool(image)
    typed = "embeddingTypes" in body or "dimensions" in body
    if not has_image and not (has_text and typed):
        return None  # plain Titan text v1: the basic imitation answers
    size = body.get("dimensions")
    dim = size if isinstance(size, int) and size > 0 else MODEL_DIMENSIONS.get(model, dim)
    vector = embedding_vector(f"{text}|{image}", dim)
    result: JSONDict = {"embedding": vector, "inputTextTokenCount": word_count(text or "")}
    types = body.get("embeddingTypes")
    if isinstance(types, list):
        result["embeddingsByType"] = {kind: vector for kind in types if kind in ("float", "binary")}
    return result


def _nova_value(params: JSONDict) -> tuple[str, str] | None:
    """The one modality a SINGLE_EMBEDDING request carries, and its content."""
    for modality in NOVA_MODALITIES:
        section = params.get(modality)
        if not isinstance(section, dict):
            continue
        source = section.get("source")
        value = section.get("value") if modality == "text" else None
        if isinstance(source, dict):
            value = source.get("bytes")
        if isinstance(value, str) and value:
            return modality, value
    return None


def _nova(model: str, body: JSONDict, dim: int) -> JSONDict | None:
    params = body.get("singleEmbeddingParams")
    if body.get("taskType") != "SINGLE_EMBEDDING" or not isinstance(params, dict):
        return None
    found = _nova_value(params)
    if found is None:
        return None
    size = params.get("embeddingDimension")
    dim = size if isinstance(size, int) and size > 0 else dim
    modality, value = found
    vector = embedding_vector(value, dim)
    return {"embeddings": [{"embeddingType": modality.upper(), "embedding": vector}]}


FAMILIES: tuple[Family, ...] = (_ai21, _claude_text, _claude_thinking, _titan, _nova)


def _family_result(model: str, body: JSONDict, dim: int) -> JSONDict | str | None:
    """The answer of the family body is shaped for, its refusal, or None for no family here."""
    for family in FAMILIES:
        result = family(model, body, dim)
        if result is not None:
            return result
    return NOVA_NO_INPUT if body.get("taskType") == "SINGLE_EMBEDDING" else None


async def bedrock_runtime_invoke(request: web.Request) -> web.StreamResponse:
    """POST /model/{model_id}/invoke: the families above, else the basic imitation."""
    body = await json_object(request)
    dim = request.app[CONFIG_KEY].embedding_dim
    result = None if body is None else _family_result(request.match_info["model_id"], body, dim)
    if result is None:
        return await bedrock_invoke(request)
    denial = await sigv4_denial(request, "bedrock")
    if denial is not None:
        return denial
    if isinstance(result, str):
        return aws_error(400, "ValidationException", result)
    return web.json_response(result)


def _converse_text(messages: list[JSONDict]) -> str:
    for message in reversed(messages):
        content = message.get("content")
        if message.get("role") == "user" and isinstance(content, list):
            parts = [p.get("text") for p in content if isinstance(p, dict)]
            return " ".join(p for p in parts if isinstance(p, str))
    return ""


async def bedrock_converse(request: web.Request) -> web.StreamResponse:
    """POST /model/{model_id}/converse: Bedrock's model-neutral chat API."""
    denial = await sigv4_denial(request, "bedrock")
    if denial is not None:
        return denial
    body = await json_object(request)
    messages: Any = None if body is None else body.get("messages")
    if not is_message_list(messages):
        return aws_error(400, "ValidationException", BEDROCK_MALFORMED)
    question = _converse_text(messages)
    reply = reply_to(question)
    inputs, outputs = word_count(question), word_count(reply)
    return web.json_response(
        {
            "output": {"message": {"role": "assistant", "content": [{"text": reply}]}},
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": inputs,
                "outputTokens": outputs,
                "totalTokens": inputs + outputs,
            },
            "metrics": {"latencyMs": 1},
        }
    )


async def bedrock_openai_chat(request: web.Request) -> web.StreamResponse:
    """POST /openai/v1/chat/completions: OpenAI-compatible chat of open-weight models."""
    denial = await sigv4_denial(request, "bedrock")
    if denial is not None:
        return denial
    body = await json_object(request)
    messages: Any = None if body is None else body.get("messages")
    if body is None or not isinstance(body.get("model"), str) or not is_message_list(messages):
        return aws_error(400, "ValidationException", BEDROCK_MALFORMED)
    reply = reply_to(last_user_text(messages))
    prompt, completion = messages_word_count(messages), word_count(reply)
    return web.json_response(
        {
            "id": new_id("chatcmpl-"),
            "choices": [
                {
                    "finish_reason": "stop",
                    "index": 0,
                    "message": {"content": reply, "role": "assistant"},
                }
            ],
            "created": int(time.time()),
            "model": body["model"],
            "service_tier": "standard",
            "system_fingerprint": "fp_mock",
            "object": "chat.completion",
            "usage": {
                "completion_tokens": completion,
                "prompt_tokens": prompt,
                "total_tokens": prompt + completion,
            },
        }
    )


def routes() -> list[web.RouteDef]:
    return [
        web.post("/model/{model_id}/converse", bedrock_converse),
        web.post("/openai/v1/chat/completions", bedrock_openai_chat),
    ]

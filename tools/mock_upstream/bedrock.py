"""Bedrock imitation: invoke for Titan embeddings, Anthropic messages and Cohere embeddings."""

from __future__ import annotations

from aiohttp import web

from tools.mock_upstream.cohere import cohere_result
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

BEDROCK_MALFORMED = "Malformed input request, please reformat your input and try again."


def _anthropic_result(model_id: str, messages: list[JSONDict]) -> JSONDict:
    reply = reply_to(last_user_text(messages))
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model_id,
        "content": [{"type": "text", "text": reply}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": messages_word_count(messages),
            "output_tokens": word_count(reply),
        },
    }


def _bedrock_result(model_id: str, body: JSONDict, dim: int) -> JSONDict | None:
    """Answer in the format of the model family the body is shaped for; None if none fits."""
    text = body.get("inputText")
    if isinstance(text, str):
        return {"embedding": embedding_vector(text, dim), "inputTextTokenCount": word_count(text)}
    if is_message_list(body.get("messages")):
        return _anthropic_result(model_id, body["messages"])
    if "texts" in body:
        result = cohere_result(body, dim)
        return None if isinstance(result, str) else result
    return None


async def bedrock_invoke(request: web.Request) -> web.StreamResponse:
    """POST /model/{model_id}/invoke: Titan, Anthropic or Cohere behind Bedrock."""
    denial = await sigv4_denial(request, "bedrock")
    if denial is not None:
        return denial
    body = await json_object(request)
    dim = request.app[CONFIG_KEY].embedding_dim
    result = None if body is None else _bedrock_result(request.match_info["model_id"], body, dim)
    if result is None:
        return aws_error(400, "ValidationException", BEDROCK_MALFORMED)
    return web.json_response(result)

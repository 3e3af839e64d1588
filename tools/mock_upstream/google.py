"""Google imitations: Vertex AI text-embedding predict and Gemini generateContent."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from tools.mock_upstream.config import CONFIG_KEY
from tools.mock_upstream.inputs import bearer_token, is_text_list, json_object
from tools.mock_upstream.model import embedding_vector, reply_to, word_count


def google_error(status: int, message: str, reason: str) -> web.Response:
    """An error in Google APIs' {"error": {...}} shape."""
    return web.json_response(
        {"error": {"code": status, "message": message, "status": reason}}, status=status
    )


def _model_action(request: web.Request, action: str) -> str | None:
    """The model of a path segment "MODEL:ACTION", or None when the action differs."""
    model, _, called = request.match_info["model_action"].partition(":")
    return model if called == action and model else None


async def vertex_predict(request: web.Request) -> web.StreamResponse:
    """POST /v1/projects/{p}/locations/{l}/publishers/google/models/{model}:predict."""
    if _model_action(request, "predict") is None:
        return google_error(404, "Method not found.", "NOT_FOUND")
    if not bearer_token(request):
        return google_error(
            401, "Request is missing required authentication credential.", "UNAUTHENTICATED"
        )
    body = await json_object(request)
    instances: Any = None if body is None else body.get("instances")
    contents = [i.get("content") for i in instances or [] if isinstance(i, dict)]
    if not is_text_list(contents):
        return google_error(
            400, "Invalid instances: each needs a content string.", "INVALID_ARGUMENT"
        )
    dim = request.app[CONFIG_KEY].embedding_dim
    predictions = [
        {
            "embeddings": {
                "statistics": {"truncated": False, "token_count": word_count(text)},
                "values": embedding_vector(text, dim),
            }
        }
        for text in contents
    ]
    characters = sum(len(text) for text in contents)
    return web.json_response(
        {"predictions": predictions, "metadata": {"billableCharacterCount": characters}}
    )


def _gemini_text(contents: list[Any]) -> str | None:
    for content in reversed(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        if isinstance(parts, list):
            texts = [p.get("text") for p in parts if isinstance(p, dict)]
            return " ".join(t for t in texts if isinstance(t, str))
    return None


async def gemini_generate(request: web.Request) -> web.StreamResponse:
    """POST /v1beta/models/{model}:generateContent with an x-goog-api-key header."""
    model = _model_action(request, "generateContent")
    if model is None:
        return google_error(404, "Method not found.", "NOT_FOUND")
    if not request.headers.get("x-goog-api-key"):
        return google_error(403, "Method doesn't allow unregistered callers.", "PERMISSION_DENIED")
    body = await json_object(request)
    contents: Any = None if body is None else body.get("contents")
    text = _gemini_text(contents) if isinstance(contents, list) else None
    if text is None:
        return google_error(
            400, "* GenerateContentRequest.contents: contents is not specified", "INVALID_ARGUMENT"
        )
    reply = reply_to(text)
    prompt, out = word_count(text), word_count(reply)
    return web.json_response(
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": reply}], "role": "model"},
                    "finishReason": "STOP",
                    "avgLogprobs": -0.1,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": prompt,
                "candidatesTokenCount": out,
                "totalTokenCount": prompt + out,
            },
            "modelVersion": model,
            "responseId": uuid.uuid4().hex[:22],
        }
    )


def routes() -> list[web.RouteDef]:
    vertex = "/v1/projects/{project}/locations/{location}/publishers/google/models/{model_action}"
    return [
        web.post(vertex, vertex_predict),
        web.post("/v1beta/models/{model_action}", gemini_generate),
    ]

"""OpenAI-compatible servers: DeepSeek and local ones (Ollama, llama.cpp) on /v1/chat/completions.

They answer like OpenAI with a few fields of their own; the model name tells which server a
request was meant for ("deepseek-..." for DeepSeek, a "name:tag" like qwen3:4b for a local
server), and everything else is OpenAI's answer unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tools.mock_upstream.openai import chat_completions


def _deepseek(answer: dict[str, Any]) -> None:
    usage = answer["usage"]
    usage["prompt_tokens_details"] = {"cached_tokens": 0}
    usage["prompt_cache_hit_tokens"] = 0
    usage["prompt_cache_miss_tokens"] = usage["prompt_tokens"]
    answer["system_fingerprint"] = "fp_mock"


def _local_server(answer: dict[str, Any]) -> None:
    answer["system_fingerprint"] = "b0000-mock"
    tokens = answer["usage"]
    answer["timings"] = {
        "prompt_n": tokens["prompt_tokens"],
        "prompt_ms": 1.0,
        "predicted_n": tokens["completion_tokens"],
        "predicted_ms": 1.0,
    }


def _flavour(model: Any) -> Any:
    if isinstance(model, str) and model.startswith("deepseek"):
        return _deepseek
    if isinstance(model, str) and ":" in model:
        return _local_server
    return None


async def compatible_chat(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions: OpenAI's answer, with the fields of the server meant."""
    answer = await chat_completions(request)
    if answer.status != 200 or not isinstance(answer, web.Response) or answer.text is None:
        return answer
    # The answer names the model and is small: read it rather than parse the request twice.
    data = json.loads(answer.text)
    flavour = _flavour(data.get("model"))
    if flavour is None:
        return answer
    flavour(data)
    return web.json_response(data)

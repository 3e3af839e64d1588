"""The SageMaker semantic highlighter container (opensearch-py-ml's sentence highlighter).

Its invocations take {"question", "context"} (one document) or {"inputs": [{"question",
"context"}, ...]} (a batch) and answer {"highlights": [...]}: spans of the context for one
document, one list of spans per input for a batch. The span picked here is the context's
sentence sharing the most words with the question. Other bodies go on to sagemaker_any.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from tools.mock_upstream.inputs import JSONDict, read_json
from tools.mock_upstream.sagemaker_containers import sagemaker_any
from tools.mock_upstream.sigv4 import sigv4_denial

SENTENCE = re.compile(r"[^.!?]+[.!?]*")
WORD = re.compile(r"\w+")


def _best_span(question: str, context: str) -> JSONDict:
    asked = {w.lower() for w in WORD.findall(question)}
    best: JSONDict = {"start": 0, "end": len(context), "text": context, "position": 0}
    score = -1
    for position, match in enumerate(SENTENCE.finditer(context)):
        text = match.group(0).strip()
        overlap = len(asked & {w.lower() for w in WORD.findall(text)})
        if text and overlap > score:
            start = match.start() + match.group(0).index(text)
            best = {"start": start, "end": start + len(text), "text": text, "position": position}
            score = overlap
    return best


def _is_pair(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("question"), str)
        and isinstance(value.get("context"), str)
        and bool(value["context"])
    )


def _highlights(body: JSONDict) -> list[Any] | None:
    """The container's highlights for a body, or None when it is not a highlighter body."""
    inputs = body.get("inputs")
    if isinstance(inputs, list) and inputs and all(_is_pair(i) for i in inputs):
        spans = [_best_span(i["question"], i["context"]) for i in inputs]
        return [[{"start": s["start"], "end": s["end"]}] for s in spans]
    if _is_pair(body):
        return [_best_span(body["question"], body["context"])]
    return None


def _is_highlighter_body(body: Any) -> bool:
    # A text-generation container also takes "inputs", but as text, never as objects.
    if not isinstance(body, dict):
        return False
    inputs = body.get("inputs")
    batch = isinstance(inputs, list) and any(isinstance(i, dict) for i in inputs)
    return batch or bool({"question", "context"} & body.keys())


async def sagemaker_highlight_or_any(request: web.Request) -> web.StreamResponse:
    """POST /endpoints/{endpoint_name}/invocations: the highlighter, else the other containers."""
    body: Any = await read_json(request)
    if not _is_highlighter_body(body):
        return await sagemaker_any(request)
    denial = await sigv4_denial(request, "sagemaker")
    if denial is not None:
        return denial
    highlights = _highlights(body)
    if highlights is None:
        message = "question and context, or inputs of question/context pairs, are required"
        return web.json_response({"message": message}, status=400)
    answer = {"highlights": highlights, "processing_time_ms": 1.0, "device": "cpu"}
    return web.json_response(answer, headers={"x-Amzn-Invoked-Production-Variant": "AllTraffic"})

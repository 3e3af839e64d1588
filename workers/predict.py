"""Serve one prediction on this node: load the model if needed, call it, shape the answer."""

from __future__ import annotations

import asyncio
from typing import Any

from common.endpoints import require_trusted
from workers.deploy import prepare_model
from workers.model_cache import PreparedModel
from workers.remote.connector import build_request
from workers.remote.outcome import to_inference_results
from workers.runtime import Runtime


async def serve(rt: Runtime, job: dict[str, Any]) -> str:
    """Return the inference_results JSON text for a predict job, or raise MLCommonsError."""
    model = await _model(rt, job["model_id"], int(job["generation"]))
    outbound = build_request(model, job["parameters"], job["action_type"])
    require_trusted(outbound.url, job["trusted"])
    answer = await rt.http.send(
        outbound.method,
        outbound.url,
        headers=outbound.headers,
        body=outbound.body,
        connect_timeout=outbound.connect_timeout,
        read_timeout=outbound.read_timeout,
        allow_private=bool(job["private_ip_enabled"]),
    )
    return to_inference_results(
        answer, response_filter=outbound.response_filter, post_process=outbound.post_process
    )


async def _model(rt: Runtime, model_id: str, generation: int) -> PreparedModel:
    cached = rt.cache.peek(model_id, generation)
    if cached is not None:
        return cached
    # A cache miss reads Redis and decrypts: do it off the event loop.
    loop = asyncio.get_running_loop()
    fresh = await loop.run_in_executor(None, prepare_model, rt, model_id)
    rt.cache.put(model_id, fresh)
    return fresh

"""Serve one prediction on this node: load the model if needed, call it, shape the answer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from common.endpoints import require_trusted
from common.messages import PredictRequest
from common.records import FreeForm
from workers.deploy import prepare_model
from workers.model_cache import PreparedModel
from workers.remote.connector import Outbound, build_request, find_action
from workers.remote.http import Answer
from workers.remote.outcome import inference_result, inference_results_body
from workers.remote.preprocess import parameter_sets
from workers.runtime import Runtime


async def serve(rt: Runtime, job: PredictRequest) -> str:
    """Return the inference_results JSON text for a predict job, or raise MLCommonsError."""
    model = await _model(rt, job.model_id, job.generation)
    requests = [job.parameters]
    if job.text_docs is not None:
        action = find_action(model.connector, job.action_type)
        sets = parameter_sets(
            action.pre_process_function, job.text_docs, model.connector.parameters
        )
        requests = [{**params, **job.parameters} for params in sets]
    results = await asyncio.gather(*(_one(rt, model, job, params) for params in requests))
    return inference_results_body(list(results))


async def _one(
    rt: Runtime, model: PreparedModel, job: PredictRequest, parameters: FreeForm
) -> dict[str, Any]:
    outbound = build_request(model, parameters, job.action_type)
    require_trusted(outbound.url, job.trusted)
    answer = await _send(rt, outbound, allow_private=job.private_ip_enabled)
    return inference_result(
        answer, response_filter=outbound.response_filter, post_process=outbound.post_process
    )


async def _send(rt: Runtime, outbound: Outbound, *, allow_private: bool) -> Answer:
    started, attempt = time.monotonic(), 0
    while True:
        answer = await rt.http.send(
            outbound.method,
            outbound.url,
            headers=outbound.headers,
            body=outbound.body,
            connect_timeout=outbound.connect_timeout,
            read_timeout=outbound.read_timeout,
            allow_private=allow_private,
        )
        retryable = answer.status == 429 or answer.status >= 500
        policy = outbound.retry
        if (
            not retryable
            or policy is None
            or not policy.allows(attempt, time.monotonic() - started)
        ):
            return answer
        await asyncio.sleep(policy.delay(attempt))
        attempt += 1


async def _model(rt: Runtime, model_id: str, generation: int) -> PreparedModel:
    cached = rt.cache.peek(model_id, generation)
    if cached is not None:
        return cached
    # A cache miss reads Redis and decrypts: do it off the event loop.
    loop = asyncio.get_running_loop()
    fresh = await loop.run_in_executor(None, prepare_model, rt, model_id)
    rt.cache.put(model_id, fresh)
    return fresh

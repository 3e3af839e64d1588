"""Serve one prediction on this node: load the model if needed, call it, shape the answer.

An upstream request goes out once, and again only as client_config's retry policy says
(429 and 5xx answers, ML Commons 3.8): never faster than a floor, never past the deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import msgspec

from common import painless
from common.endpoints import require_trusted
from common.errors import GatewayTimeoutError
from common.messages import PredictRequest
from common.records import FreeForm
from common.templating import stringify_parameters
from workers.deploy import hold_model
from workers.model_cache import PreparedModel
from workers.remote.connector import Outbound, build_request, find_action
from workers.remote.http import Answer
from workers.remote.offload import OFFLOAD_BYTES
from workers.remote.outcome import inference_result, inference_results_body
from workers.remote.preprocess import (
    fill_function,
    parameter_sets,
    remote_inference_parameters,
    rerank_parameters,
)
from workers.runtime import Runtime

T = TypeVar("T")
# The shortest wait before retry n is FLOOR_S * 2**n, up to FLOOR_CAP_S: a zero or tiny
# retry_backoff_millis with unbounded retries would otherwise hammer the upstream (one
# predict sent 3,842 requests in 3 s). The cap is ML Commons' default backoff (200 ms), so a
# backoff configured at or above the default is never changed, and ten retries still fit
# in about one second.
FLOOR_S = 0.01
FLOOR_CAP_S = 0.2
# The upstream call ends this long before the predict deadline, so the node's 504 (naming
# the remote model) reaches the API before the API gives up on the node; and a retry that
# could only start this close to the deadline is not made: the client gets the last answer.
DEADLINE_RESERVE_S = 0.25
NO_ANSWER = "The remote model did not answer in time"


async def serve(rt: Runtime, job: PredictRequest) -> str:
    """Return the inference_results JSON text for a predict job, or raise MLCommonsError."""
    model = await _model(rt, job.model_id, job.generation)
    requests = _requests(model, job)
    results = await _all([_one(rt, model, job, params) for params in requests])
    return inference_results_body(results)


def _requests(model: PreparedModel, job: PredictRequest) -> list[FreeForm]:
    """The parameters of each upstream request, the action's pre-process function applied.

    What the function makes is merged under the request's own parameters (ML Commons: the
    request's parameters always win).
    """
    action = find_action(model.connector, job.action_type)
    function = action.pre_process_function
    if job.text_docs is None and not painless.is_script(function):
        return [job.parameters]
    connector_params = model.connector.parameters
    given = stringify_parameters(job.parameters)
    function = fill_function(function, {**connector_params, **given})
    script = model.scripts.get(function) if function is not None else None
    if job.text_docs is not None and job.query_text is not None:
        return [{**rerank_parameters(function, job.query_text, job.text_docs), **job.parameters}]
    if job.text_docs is not None:
        sets = parameter_sets(function, job.text_docs, connector_params, script)
        return [{**params, **job.parameters} for params in sets]
    extra = remote_inference_parameters(function, given, connector_params, script)
    return [job.parameters] if extra is None else [{**extra, **job.parameters}]


async def _all(calls: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run calls concurrently; when one fails, cancel the rest (their answers are moot)."""
    if len(calls) == 1:
        # Most predicts make one upstream request: awaited here, it goes out now rather
        # than after a turn of the loop (a task), where the node's next Redis take is
        # already waiting to run first.
        return [await calls[0]]
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


async def _one(
    rt: Runtime, model: PreparedModel, job: PredictRequest, parameters: FreeForm
) -> dict[str, Any] | msgspec.Raw:
    outbound = build_request(model, parameters, job.action_type)
    require_trusted(outbound.url, job.trusted)
    answer = await _send(rt, outbound, job)
    post = outbound.post_process
    if post is not None and "${parameters." in post:
        post = fill_function(
            post, {**model.connector.parameters, **stringify_parameters(parameters)}
        )
    if len(answer.body) >= OFFLOAD_BYTES:
        return await rt.shaper.shape(answer, outbound.response_filter, post)
    script = model.scripts.get(post) if post is not None else None
    return inference_result(
        answer, response_filter=outbound.response_filter, post_process=post, script=script
    )


async def _send(rt: Runtime, outbound: Outbound, job: PredictRequest) -> Answer:
    started, attempt = time.monotonic(), 0
    while True:
        sent = time.monotonic()
        answer = await _call(rt, outbound, job)
        rt.metrics.upstream(answer.status, time.monotonic() - sent)
        delay = _retry_delay(outbound, answer, attempt, time.monotonic() - started)
        if delay is None or time.time() + delay + DEADLINE_RESERVE_S >= job.deadline:
            return answer
        rt.metrics.upstream_retry()
        await asyncio.sleep(delay)
        attempt += 1


async def _call(rt: Runtime, outbound: Outbound, job: PredictRequest) -> Answer:
    """Send once, giving up a little before the deadline (a body may never end)."""
    try:
        async with asyncio.timeout(job.deadline - DEADLINE_RESERVE_S - time.time()):
            return await outbound.send(
                rt.http, max_body=job.max_json_size, allow_private=job.private_ip_enabled
            )
    except TimeoutError:  # only this timeout: http.send turns its own into transport errors
        raise GatewayTimeoutError(NO_ANSWER) from None


def _retry_delay(outbound: Outbound, answer: Answer, attempt: int, elapsed: float) -> float | None:
    """Seconds to wait before retrying, or None when the answer stands."""
    policy = outbound.retry
    retryable = answer.status == 429 or 500 <= answer.status <= 599
    if not retryable or policy is None or not policy.allows(attempt, elapsed):
        return None
    return max(policy.delay(attempt), min(FLOOR_S * 2.0**attempt, FLOOR_CAP_S))


async def _model(rt: Runtime, model_id: str, generation: int) -> PreparedModel:
    cached = rt.cache.peek(model_id, generation)
    if cached is not None:
        return cached
    # A cache miss reads Redis and decrypts: do it off the event loop.
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, hold_model, rt, model_id)

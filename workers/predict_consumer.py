"""Take predict requests off Redis lists and serve them on this process's event loop.

Predicts bypass Celery on purpose. A predict is a synchronous call a client is waiting on,
and Celery's per-message machinery (Request objects, tracing, a thread hand-off and four
Redis round trips for delivery, unacked bookkeeping and ack) measured about 2.3 ms of worker
CPU per predict, which capped the 2-core stack near 280 predicts/s. Here a predict costs two
round trips on the worker (BLMOVE, then reply + LREM in one pipeline) and runs as a coroutine
beside all the others on the one aiohttp session. Reliability is kept with the reliable-queue
pattern: BLMOVE parks each request on this node's in-flight list until it is answered, and a
node that dies has its in-flight list requeued by the sweeper of any live node.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from common.errors import GatewayTimeoutError, MLCommonsError
from common.messages import ErrorInfo, MessageError, PredictReply, PredictRequest
from common.stores.connection import RETRY_ON
from workers import predict
from workers.runtime import Runtime

log = logging.getLogger(__name__)
TAKE_TIMEOUT_S = 1.0


class PredictConsumer:
    """One blocking taker per queue; a semaphore bounds the predicts in flight."""

    def __init__(self, rt: Runtime, queues: list[str], concurrency: int) -> None:
        self._rt = rt
        self._queues = queues
        self._concurrency = concurrency
        self._stopping = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._takers: list[asyncio.Task[None]] = []
        self._redis: Any = None  # redis.asyncio.Redis; typed Any as in common/store.py

    async def start(self) -> None:
        """Requeue what this node left in flight in a previous life, then start taking."""
        self._rt.store.predicts.requeue_inflight(self._rt.node.id)
        self._redis = aioredis.Redis.from_url(
            self._rt.settings.require_redis_url(),
            decode_responses=True,
            retry=AsyncRetry(ExponentialBackoff(cap=1.0, base=0.05), retries=15),
            retry_on_error=RETRY_ON,
        )
        slots = asyncio.Semaphore(self._concurrency)
        self._takers = [asyncio.create_task(self._take(q, slots)) for q in self._queues]

    async def stop(self, grace_s: float) -> None:
        """Stop taking, let running predicts finish (bounded), and close the connection."""
        self._stopping.set()
        await asyncio.gather(*self._takers, return_exceptions=True)
        if self._running:
            await asyncio.wait(self._running, timeout=grace_s)
        if self._redis is not None:
            await self._redis.aclose()

    async def _take(self, queue: str, slots: asyncio.Semaphore) -> None:
        assert self._redis is not None
        source = self._rt.store.predicts.queue_key(queue)
        inflight = self._rt.store.predicts.inflight_key(self._rt.node.id)
        while not self._stopping.is_set():
            await slots.acquire()
            try:
                raw = await self._redis.blmove(source, inflight, TAKE_TIMEOUT_S, "RIGHT", "LEFT")
            except RedisError as error:
                slots.release()
                log.warning("predict queue %s unavailable: %s", queue, error)
                await asyncio.sleep(0.5)
                continue
            if raw is None:
                slots.release()
                continue
            task = asyncio.create_task(self._handle(raw, slots))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _handle(self, raw: str, slots: asyncio.Semaphore) -> None:
        try:
            job = PredictRequest.decode(raw)
        except MessageError as error:
            # Not a request this node can read: drop it rather than keep it in flight forever.
            log.error("dropping a predict request: %s", error.reason)
            await self._finish_quietly(raw, None)
            slots.release()
            return
        try:
            answer = await self._answer(job) if time.time() < job.deadline else None
            await self._finish(raw, job.reply_key, answer)
        except RedisError as error:
            # The request stays in flight and is requeued if this node dies; log and move on.
            log.warning("could not answer a predict request: %s", error)
        finally:
            slots.release()

    async def _answer(self, job: PredictRequest) -> PredictReply:
        try:
            remaining = max(0.0, job.deadline - time.time())
            # The API stops waiting at the deadline; so does the node, freeing its slot.
            body = await asyncio.wait_for(predict.serve(self._rt, job), remaining)
            return self._reply(body=body)
        except TimeoutError:
            return self._reply(error=GatewayTimeoutError("The remote model did not answer in time"))
        except MLCommonsError as error:
            return self._reply(error=error)
        except Exception:
            log.exception("predict failed on model %s", job.model_id)
            return self._reply(error=MLCommonsError("Internal error on worker node"))

    def _reply(
        self, *, body: str | None = None, error: MLCommonsError | None = None
    ) -> PredictReply:
        node = self._rt.node
        return PredictReply(
            node=node.id,
            node_name=node.name,
            role=node.role,
            body=body,
            error=None if error is None else ErrorInfo.of(error),
        )

    async def _finish(self, raw: str, reply_key: str | None, answer: PredictReply | None) -> None:
        assert self._redis is not None
        store = self._rt.store
        pipe = self._redis.pipeline(transaction=False)
        if answer is not None and reply_key is not None:
            store.replies.add_push(pipe, reply_key, answer)
        pipe.lrem(store.predicts.inflight_key(self._rt.node.id), 1, raw)
        await pipe.execute()

    async def _finish_quietly(self, raw: str, reply_key: str | None) -> None:
        try:
            await self._finish(raw, reply_key, None)
        except RedisError as error:
            log.warning("could not drop a predict request: %s", error)

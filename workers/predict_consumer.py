"""Take predict requests off Redis lists and serve them on this process's event loop.

Predicts bypass Celery on purpose (docs/decisions/0001-predicts-bypass-celery.md has the
figures): a Celery task costs several times the CPU of a plain list entry. Reliability is
kept with the reliable-queue pattern: each request is moved atomically onto this node's
in-flight list, stays there until its answer is written, and a node that dies has its
in-flight list requeued by the sweeper of any live node.

Under load a node spends one round trip per batch, not per request: a taker moves up to
TAKE_BATCH requests at once (a Lua script), blocking on BLMOVE only when the queue is empty,
and the outbox writes every finished answer in one pipeline per event-loop turn.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from common.errors import GatewayTimeoutError, MLCommonsError, RemoteTransportError
from common.messages import ErrorInfo, MessageError, PredictReply, PredictRequest
from common.stores.connection import RETRY_ON
from common.stores.predicts import TAKE_MANY_LUA
from workers import predict
from workers.runtime import Runtime

log = logging.getLogger(__name__)
TAKE_TIMEOUT_S = 1.0
TAKE_BATCH = 32
LARGE_REQUEST_CHARS = 8 * 1024 * 1024
# A taken request (its raw entry in the in-flight list), what it asked and what to answer.
Answered = tuple[str, PredictRequest | None, PredictReply | None]


class Slots:
    """A count of predicts this node may still start, taken in batches."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._freed = asyncio.Event()

    async def take_up_to(self, most: int) -> int:
        """Wait for at least one free slot; take up to `most` of them."""
        while self.free == 0:
            self._freed.clear()
            await self._freed.wait()
        taken = min(most, self.free)
        self.free -= taken
        return taken

    def give_back(self, count: int = 1) -> None:
        """Return slots (finished or unused)."""
        if count:
            self.free += count
            self._freed.set()


class Outbox:
    """Answers waiting to be written: all that finished in one loop turn go in one pipeline."""

    def __init__(self, rt: Runtime, redis: Any) -> None:
        self._rt = rt
        self._redis = redis
        self._pending: list[Answered] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._large = False  # a large request was answered since the last collection

    def put(self, raw: str, job: PredictRequest | None, answer: PredictReply | None) -> None:
        """Queue an answer (or, with none, just the removal of the in-flight entry)."""
        self._pending.append((raw, job, answer))
        self._large = self._large or len(raw) >= LARGE_REQUEST_CHARS
        self._wake.set()

    async def run(self) -> None:
        """Write queued answers until closed and drained."""
        while not (self._closing and not self._pending):
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if batch:
                await self._write(batch)
            # Not kept while waiting: the last batch's requests and answers (tens of MB for
            # one large prompt) would stay alive until the next answer.
            del batch
            if self._large:
                # A failed large request leaves copies in reference cycles (exception,
                # traceback, frames); a quiet node might not collect them for a long time,
                # and hundreds of MB would stay. Rare, and a collection costs milliseconds.
                self._large = False
                gc.collect()

    def close(self) -> None:
        """Stop once what is queued has been written."""
        self._closing = True
        self._wake.set()

    async def _write(
        self, batch: list[tuple[str, PredictRequest | None, PredictReply | None]]
    ) -> None:
        store = self._rt.store
        inflight = store.predicts.inflight_key(self._rt.node.id)
        pipe = self._redis.pipeline(transaction=False)
        for raw, job, answer in batch:
            if job is not None and answer is not None:
                store.replies.add_push(pipe, job.reply_key, answer)
            pipe.lrem(inflight, 1, raw)
        try:
            await pipe.execute()
        except RedisError as error:
            # The requests stay in flight and are requeued if this node dies; log and go on.
            log.warning("could not write %d predict answers: %s", len(batch), error)


class PredictConsumer:
    """One taker per queue; Slots bound the predicts in flight; one Outbox writes answers."""

    def __init__(self, rt: Runtime, queues: list[str], concurrency: int) -> None:
        self._rt = rt
        self._queues = queues
        self._concurrency = concurrency
        self._stopping = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._takers: list[asyncio.Task[None]] = []
        self._redis: Any = None  # redis.asyncio.Redis; typed Any as in common/stores
        self._outbox: Outbox | None = None
        self._writer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Requeue what this node left in flight in a previous life, then start taking."""
        self._rt.store.predicts.requeue_inflight(self._rt.node.id)
        self._redis = aioredis.Redis.from_url(
            self._rt.settings.require_queue_redis_url(),
            decode_responses=True,
            retry=AsyncRetry(ExponentialBackoff(cap=1.0, base=0.05), retries=15),
            retry_on_error=RETRY_ON,
        )
        self._outbox = Outbox(self._rt, self._redis)
        self._writer = asyncio.create_task(self._outbox.run())
        slots = Slots(self._concurrency)
        take_many = self._redis.register_script(TAKE_MANY_LUA)
        self._takers = [
            asyncio.create_task(self._take(queue, slots, take_many)) for queue in self._queues
        ]

    async def stop(self, grace_s: float) -> None:
        """Stop taking, let running predicts finish (bounded), write their answers, close."""
        self._stopping.set()
        await asyncio.gather(*self._takers, return_exceptions=True)
        if self._running:
            await asyncio.wait(self._running, timeout=grace_s)
        if self._outbox is not None and self._writer is not None:
            self._outbox.close()
            await asyncio.wait([self._writer], timeout=5)
        if self._redis is not None:
            await self._redis.aclose()

    async def _take(self, queue: str, slots: Slots, take_many: Any) -> None:
        store = self._rt.store
        keys = [store.predicts.queue_key(queue), store.predicts.inflight_key(self._rt.node.id)]
        while not self._stopping.is_set():
            wanted = await slots.take_up_to(TAKE_BATCH)
            try:
                batch = await self._take_batch(keys, wanted, slots, take_many)
            except RedisError as error:
                slots.give_back(wanted)
                log.warning("predict queue %s unavailable: %s", queue, error)
                await asyncio.sleep(0.5)
                continue
            self._spawn_all(batch, slots)
            del batch  # not kept while waiting for slots and the next take (see Outbox.run)
            # Let the new requests reach their upstream calls before this taker spends the
            # loop on its next take: at low load that take is pure latency in their way.
            await asyncio.sleep(0)

    async def _take_batch(
        self, keys: list[str], wanted: int, slots: Slots, take_many: Any
    ) -> list[str]:
        """Return up to `wanted` requests, oldest first; give back the slots not used."""
        batch = list(reversed(await take_many(keys=keys, args=[wanted])))
        if not batch:
            # Nothing waiting: block for the next one instead of polling.
            slots.give_back(wanted - 1)
            wanted = 1
            raw = await self._redis.blmove(keys[0], keys[1], TAKE_TIMEOUT_S, "RIGHT", "LEFT")
            batch = [] if raw is None else [raw]
        slots.give_back(wanted - len(batch))
        return batch

    def in_flight(self) -> int:
        """Predicts taken and not yet answered (read by the metrics gauge at each scrape)."""
        return len(self._running)

    def _spawn_all(self, batch: list[str], slots: Slots) -> None:
        for raw in batch:
            self._spawn(raw, slots)

    def _spawn(self, raw: str, slots: Slots) -> None:
        task = asyncio.create_task(self._handle(raw, slots))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _handle(self, raw: str, slots: Slots) -> None:
        assert self._outbox is not None
        try:
            job = PredictRequest.decode(raw)
        except MessageError as error:
            # Not a request this node can read: drop it rather than keep it in flight forever.
            log.error("dropping a predict request: %s", error.reason)
            self._outbox.put(raw, None, None)
            slots.give_back()
            return
        try:
            answer = await self._answer(job) if time.time() < job.deadline else None
            self._outbox.put(raw, job, answer)
        finally:
            slots.give_back()

    async def _answer(self, job: PredictRequest) -> PredictReply:
        started = time.monotonic()
        self._rt.stats.predict_started()
        reply = await self._serve(job)
        seconds = time.monotonic() - started
        self._rt.stats.predict_finished(job.model_id, seconds, reply.error)
        self._rt.metrics.predict(job, seconds, reply.error)
        return reply

    async def _serve(self, job: PredictRequest) -> PredictReply:
        try:
            remaining = max(0.0, job.deadline - time.time())
            # The API stops waiting at the deadline; so does the node, freeing its slot.
            # (asyncio.timeout, not wait_for: no extra task per predict.)
            async with asyncio.timeout(remaining):
                body = await predict.serve(self._rt, job)
            return self._reply(job, body=body)
        except TimeoutError:
            timeout = GatewayTimeoutError(predict.NO_ANSWER)
            return self._reply(job, error=timeout)
        except MLCommonsError as error:
            if isinstance(error, RemoteTransportError):
                self._rt.metrics.upstream_failed()
            return self._reply(job, error=error)
        except Exception:
            log.exception("predict failed on model %s", job.model_id)
            return self._reply(job, error=MLCommonsError("Internal error on worker node"))

    def _reply(
        self, job: PredictRequest, *, body: str | None = None, error: MLCommonsError | None = None
    ) -> PredictReply:
        node = self._rt.node
        return PredictReply(
            request_id=job.request_id,
            node=node.id,
            node_name=node.name,
            role=node.role,
            body=body,
            error=None if error is None else ErrorInfo.of(error),
        )

"""Shape large upstream answers in a helper process, so the node's event loop keeps serving.

Decoding a JSON answer of tens of MB is one C call that holds the GIL for seconds (msgspec,
like json): the node's event loop, and with it every other predict on the node, would wait.
Answers of OFFLOAD_BYTES or more are decoded, filtered and encoded again in a child process;
only text goes there and bytes come back (copies, not parses), and the result is embedded in
the response as it is (msgspec.Raw).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import msgspec

from common.errors import MLCommonsError, RemoteModelError
from common.interpreter import die_with_parent
from common.messages import ErrorInfo
from workers.remote.http import Answer, return_large_frees_to_os
from workers.remote.outcome import inference_result

# Below this an answer is shaped on the loop: a 2 MB decode costs a few ms, less than a round
# trip to the child would.
OFFLOAD_BYTES = 2 * 1024 * 1024


def shape_encoded(
    answer: Answer, response_filter: str | None, post_process: str | None
) -> bytes | ErrorInfo:
    """In the child: one inference_results entry as JSON, or the error to raise."""
    try:
        shaped = inference_result(
            answer, response_filter=response_filter, post_process=post_process
        )
    except MLCommonsError as error:
        return ErrorInfo.of(error)  # a struct pickles whole; an exception loses its status
    return msgspec.json.encode(shaped)


def _start_child(parent_pid: int) -> None:
    """In the child, first: die with the node (even one killed with -9), free like it."""
    die_with_parent(parent_pid)
    return_large_frees_to_os()


class Shaper:
    """One child process, started on the first large answer and kept for the next ones."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    async def shape(
        self, answer: Answer, response_filter: str | None, post_process: str | None
    ) -> msgspec.Raw:
        """Return the inference_results entry of a large answer, or raise its error."""
        pool = self._running_pool()
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                pool, shape_encoded, answer, response_filter, post_process
            )
        except BrokenProcessPool:
            self._discard(pool)  # the child died (killed, out of memory): the next one is new
            raise RemoteModelError(
                "The remote model's answer could not be processed", status=502
            ) from None
        if isinstance(result, ErrorInfo):
            raise result.to_error()
        return msgspec.Raw(result)

    def _running_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn, not fork: this process runs threads (heartbeat, Celery, the loop).
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_child,
                    initargs=(os.getpid(),),
                )
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the child, if one was started."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

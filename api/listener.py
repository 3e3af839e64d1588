"""One reply listener per API process: reads the process's inbox and wakes the waiting request.

A request thread registers what it waits for (expect), sends its job, then waits on its own
event; the listener thread blocks on the inbox and hands each answer to its waiter. One
blocking read serves every request of the process, however many are in flight.
"""

from __future__ import annotations

import logging
import threading
from typing import TypeVar

import redis

from common.errors import MLCommonsError, QueueUnavailableError
from common.messages import Message, MessageError, addressee
from common.stores.replies import Replies

log = logging.getLogger(__name__)
M = TypeVar("M", bound=Message)
TAKE_TIMEOUT_S = 1.0
TAKE_MOST = 512


class Waiter:
    """One request's place in line for its answer.

    A lock taken at creation and released once by the listener, not a threading.Event: an
    Event is a Condition over a lock, and builds and notifies a second lock per wait; on the
    predict path that costs measurable CPU in every request.
    """

    __slots__ = ("request_id", "raw", "error", "_ready")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.raw: str | None = None
        self.error: MLCommonsError | None = None
        self._ready = threading.Lock()
        self._ready.acquire()

    def deliver(self, raw: str) -> None:
        """Hand over the answer and wake the waiting thread (the listener calls this once)."""
        self.raw = raw
        self._ready.release()

    def fail(self, error: MLCommonsError) -> None:
        """Wake the waiting thread with an error: its answer can no longer come."""
        self.error = error
        self._ready.release()

    def wait(self, kind: type[M], timeout_s: float) -> M | None:
        """Block until the answer arrives; None once timeout_s has passed."""
        if not self._ready.acquire(timeout=max(timeout_s, 0.0)):
            return None
        if self.error is not None:
            raise self.error
        return None if self.raw is None else kind.decode(self.raw)


class ReplyListener:
    """The process's inbox and the thread that reads it, started on first use."""

    def __init__(self, replies: Replies) -> None:
        self._replies = replies
        self.inbox = replies.new_inbox()
        self._waiters: dict[str, Waiter] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def close(self) -> None:
        """Stop reading the inbox (within one take timeout); waiters left time out."""
        self._closed.set()

    def expect(self, request_id: str) -> Waiter:
        """Register a waiter before its job is sent, so no answer can arrive unclaimed."""
        self._ensure_running()
        waiter = Waiter(request_id)
        with self._lock:
            self._waiters[request_id] = waiter
        return waiter

    def forget(self, waiter: Waiter) -> None:
        """Stop waiting (answered or given up); a late answer is then dropped."""
        with self._lock:
            self._waiters.pop(waiter.request_id, None)

    def _ensure_running(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="replies", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                batch = self._replies.take(self.inbox, timeout_s=TAKE_TIMEOUT_S, most=TAKE_MOST)
            except (redis.ConnectionError, redis.TimeoutError) as error:
                log.warning("reply inbox unavailable: %s", error)
                # The queue server's memory holds every request in flight and its answer:
                # with the server gone they are lost, so their callers hear it now.
                self._fail_all()
                self._closed.wait(0.2)
                continue
            for raw in batch:
                self._route(raw)

    def _fail_all(self) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            waiter.fail(QueueUnavailableError("The predict queue server went away, retry later"))

    def _route(self, raw: str) -> None:
        try:
            request_id = addressee(raw)
        except MessageError as error:
            log.error("dropping a reply: %s", error.reason)
            return
        with self._lock:
            waiter = self._waiters.pop(request_id, None)
        if waiter is not None:
            waiter.deliver(raw)

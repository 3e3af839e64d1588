"""The load loop: concurrent workers sending one target until a deadline, recording outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import resource
import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from tools.bench.errors import clip, describe
from tools.bench.stats import Recorder, RunStats

if TYPE_CHECKING:
    from tools.bench.progress import ProgressReporter
    from tools.bench.targets import Target

# A hung request must end eventually; it then counts as an error (and may stretch the run).
REQUEST_TIMEOUT_S = 30.0
WHITESPACE = b" \t\r\n"


@dataclass(frozen=True)
class LoadShape:
    """How hard and how long to drive a target."""

    concurrency: int
    duration_s: float
    warmup_s: float


def process_cpu_s() -> float:
    """User plus system CPU seconds this process (all its threads) has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def starts_with_key(raw: bytes, key: bytes | None) -> bool:
    """Whether raw opens a JSON object whose first key is key (any object if None).

    A prefix check instead of json.loads: the client shares the cores with the stack, so it
    spends per request only what telling success from failure needs.
    """
    head = raw.lstrip(WHITESPACE)
    if not head.startswith(b"{"):
        return False
    return key is None or head[1:].lstrip(WHITESPACE).startswith(key)


def _quoted(key: str | None) -> bytes | None:
    return None if key is None else f'"{key}"'.encode()


async def send_once(
    session: aiohttp.ClientSession, url: str, target: Target, key: bytes | None
) -> str | None:
    """Send one request; None when it succeeded, else a short description of the failure."""
    async with session.post(url, data=target.body, headers=target.headers) as resp:
        raw = await resp.read()
    if resp.status != 200:
        return f"HTTP {resp.status}: {clip(raw)}"
    if not starts_with_key(raw, key):
        expected = "a JSON object" if key is None else f"a JSON object starting with {key!r}"
        return f"HTTP 200 but not {expected}: {clip(raw)}"
    return None


async def _worker(
    session: aiohttp.ClientSession,
    target: Target,
    urls: Iterator[str],
    deadline: float,
    recorder: Recorder,
) -> None:
    key = _quoted(target.first_key)
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            failure = await send_once(session, next(urls), target, key)
        except Exception as exc:  # every failure mode is a data point, never a crash
            failure = describe(exc)
        if failure is None:
            recorder.succeeded(time.perf_counter() - started)
        else:
            recorder.failed(failure)


async def _run_phase(
    session: aiohttp.ClientSession,
    target: Target,
    concurrency: int,
    seconds: float,
    label: str,
    reporter: ProgressReporter | None,
) -> tuple[Recorder, float]:
    recorder = Recorder()
    # One cycle shared by all workers: the URLs (models) take strict turns across the phase.
    urls = itertools.cycle(target.urls)
    started = time.perf_counter()
    done = asyncio.Event()
    watch = reporter.watch(label, seconds, recorder, started, done) if reporter else None
    watcher = asyncio.create_task(watch) if watch else None
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(_worker(session, target, urls, started + seconds, recorder))
        # Requests still in flight at the deadline are counted, so the window includes them.
        elapsed = time.perf_counter() - started
    finally:
        done.set()
        if watcher is not None:
            await watcher
    return recorder, elapsed


def _session(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    jar = aiohttp.DummyCookieJar()
    return aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=jar)


async def run_load(
    target: Target,
    shape: LoadShape,
    reporter: ProgressReporter | None = None,
    measuring: AbstractAsyncContextManager[Any] | None = None,
    label: str | None = None,
) -> RunStats:
    """Warm up unrecorded, then drive target with shape.concurrency workers for duration_s.

    measuring, if given, is entered for the measured phase only (e.g. to sample memory).
    """
    label = label or target.name
    async with _session(shape.concurrency) as s:
        if shape.warmup_s > 0:
            warmup = f"{label} warmup"
            await _run_phase(s, target, shape.concurrency, shape.warmup_s, warmup, reporter)
        async with measuring or contextlib.nullcontext():
            cpu_before = process_cpu_s()
            recorder, elapsed = await _run_phase(
                s, target, shape.concurrency, shape.duration_s, label, reporter
            )
            cpu_s = process_cpu_s() - cpu_before
    return recorder.summary(elapsed, cpu_s)

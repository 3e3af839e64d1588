"""The load loop: concurrent workers sending one target until a deadline, recording outcomes."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from tools.bench.errors import clip, describe
from tools.bench.stats import Recorder, RunStats

if TYPE_CHECKING:
    from tools.bench.progress import ProgressReporter
    from tools.bench.targets import Target

# A hung request must end eventually; it then counts as an error (and may stretch the run).
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class LoadShape:
    """How hard and how long to drive a target."""

    concurrency: int
    duration_s: float
    warmup_s: float


async def send_once(session: aiohttp.ClientSession, target: Target) -> str | None:
    """Send one request; None when it succeeded, else a short description of the failure."""
    async with session.post(target.url, data=target.body, headers=target.headers) as resp:
        raw = await resp.read()
    if resp.status != 200:
        return f"HTTP {resp.status}: {clip(raw)}"
    try:
        payload = json.loads(raw)
    except ValueError:
        return f"HTTP 200 with a non-JSON body: {clip(raw)}"
    if not isinstance(payload, dict):
        return f"HTTP 200 with a non-object body: {clip(raw)}"
    if target.required_key is not None and target.required_key not in payload:
        return f"HTTP 200 without {target.required_key!r}: {clip(raw)}"
    return None


async def _worker(
    session: aiohttp.ClientSession, target: Target, deadline: float, recorder: Recorder
) -> None:
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            failure = await send_once(session, target)
        except Exception as exc:  # every failure mode is a data point, never a crash
            failure = describe(exc)
        if failure is None:
            recorder.succeeded(time.perf_counter() - started)
        else:
            recorder.failed(failure)


async def _run_phase(
    session: aiohttp.ClientSession,
    target: Target,
    shape: LoadShape,
    seconds: float,
    label: str,
    reporter: ProgressReporter | None,
) -> tuple[Recorder, float]:
    recorder = Recorder()
    started = time.perf_counter()
    done = asyncio.Event()
    watch = reporter.watch(label, seconds, recorder, started, done) if reporter else None
    watcher = asyncio.create_task(watch) if watch else None
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(shape.concurrency):
                group.create_task(_worker(session, target, started + seconds, recorder))
        # Requests still in flight at the deadline are counted, so the window includes them.
        elapsed = time.perf_counter() - started
    finally:
        done.set()
        if watcher is not None:
            await watcher
    return recorder, elapsed


async def run_load(
    target: Target, shape: LoadShape, reporter: ProgressReporter | None = None
) -> RunStats:
    """Warm up unrecorded, then drive target with shape.concurrency workers for duration_s."""
    connector = aiohttp.TCPConnector(limit=shape.concurrency, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    jar = aiohttp.DummyCookieJar()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=jar) as s:
        if shape.warmup_s > 0:
            label = f"{target.name} warmup"
            await _run_phase(s, target, shape, shape.warmup_s, label, reporter)
        recorder, elapsed = await _run_phase(
            s, target, shape, shape.duration_s, target.name, reporter
        )
    return recorder.summary(elapsed)

"""Resident memory of the spawned stack: its whole process tree, sampled during a run."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable

import psutil

from tools.bench.stats import RunStats

MIB = 1024 * 1024
RSS_SAMPLE_S = 1.0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process plus all its descendants in MiB; 0.0 if it is gone."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        # A child may exit between listing and reading; skip it rather than lose the sample.
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += int(proc.memory_info().rss)
    return total / MIB


async def _sample_rss(pid: int, samples: list[float]) -> None:
    while True:
        # In a thread: walking /proc must not stall the event loop that times requests.
        samples.append(await asyncio.to_thread(tree_rss_mb, pid))
        await asyncio.sleep(RSS_SAMPLE_S)


async def with_peak_rss(run: Awaitable[RunStats], pid: int | None) -> tuple[RunStats, float | None]:
    """Await run while sampling pid's tree RSS every second; return its stats and the peak."""
    if pid is None:
        return await run, None
    samples: list[float] = []
    sampler = asyncio.create_task(_sample_rss(pid, samples))
    try:
        stats = await run
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    return stats, max(samples, default=None)

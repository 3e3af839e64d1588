"""Resident memory of the spawned stack: its whole process tree, sampled over a run."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from tools.bench.proctree import rss_bytes, tree_total
from tools.bench.stats import slope

MIB = 1024 * 1024
SECONDS_PER_MINUTE = 60.0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process plus all its descendants in MiB; 0.0 if it is gone."""
    return tree_total(pid, rss_bytes) / MIB


@dataclass(frozen=True)
class RssSummary:
    """The shape of an RSS series: ends, peak, growth and trend."""

    samples: int
    span_s: float
    first_mb: float
    last_mb: float
    peak_mb: float
    slope_mb_per_min: float

    @property
    def growth_mb(self) -> float:
        return self.last_mb - self.first_mb

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "span_s": round(self.span_s, 1),
            "first_mb": round(self.first_mb, 1),
            "last_mb": round(self.last_mb, 1),
            "peak_mb": round(self.peak_mb, 1),
            "growth_mb": round(self.growth_mb, 1),
            "slope_mb_per_min": round(self.slope_mb_per_min, 3),
        }


def summarize_rss(samples: Sequence[tuple[float, float]]) -> RssSummary | None:
    """Summarize (seconds, MiB) samples in time order; None when there are none."""
    if not samples:
        return None
    per_minute = [(t / SECONDS_PER_MINUTE, mb) for t, mb in samples]
    return RssSummary(
        samples=len(samples),
        span_s=samples[-1][0] - samples[0][0],
        first_mb=samples[0][1],
        last_mb=samples[-1][1],
        peak_mb=max(mb for _, mb in samples),
        slope_mb_per_min=slope(per_minute),
    )


async def _sample(pid: int, started: float, samples: list[tuple[float, float]]) -> None:
    # In a thread: walking /proc must not stall the event loop that times requests.
    mb = await asyncio.to_thread(tree_rss_mb, pid)
    samples.append((time.monotonic() - started, mb))


async def _sample_forever(
    pid: int, interval_s: float, started: float, samples: list[tuple[float, float]]
) -> None:
    while True:
        await _sample(pid, started, samples)
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def sampling_rss(
    pid: int, interval_s: float, samples: list[tuple[float, float]]
) -> AsyncIterator[None]:
    """Append (seconds since start, MiB) of pid's tree every interval_s while the block runs.

    One more sample is taken as the block ends, so the last one describes the end of the run.
    """
    started = time.monotonic()
    sampler = asyncio.create_task(_sample_forever(pid, interval_s, started, samples))
    try:
        yield
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    await _sample(pid, started, samples)

"""The measured runs: at each concurrency, the gateway, then the mock directly."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from tools.bench.cpu_split import per_request_ms, sampling_cpu
from tools.bench.load import LoadShape, run_load
from tools.bench.memory import sampling_rss, summarize_rss
from tools.bench.result import RunRecord

if TYPE_CHECKING:
    from tools.bench.options import BenchOptions
    from tools.bench.progress import ProgressReporter
    from tools.bench.targets import Target


async def measure(
    target: Target,
    shape: LoadShape,
    reporter: ProgressReporter | None = None,
    rss_pid: int | None = None,
    rss_interval_s: float = 2.0,
) -> RunRecord:
    """One run of target; with rss_pid, that tree's RSS is sampled over the measured phase and
    its CPU read at both ends (CPU per predict by kind of process)."""
    label = f"{target.name} c={shape.concurrency}"
    samples: list[tuple[float, float]] = []
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    measuring = (
        None if rss_pid is None else _watching(rss_pid, rss_interval_s, samples, before, after)
    )
    stats = await run_load(target, shape, reporter, measuring, label)
    cpu = per_request_ms(before, after, stats.requests) if rss_pid is not None else None
    return RunRecord(target.name, shape.concurrency, stats, summarize_rss(samples), cpu)


@contextlib.asynccontextmanager
async def _watching(
    pid: int,
    interval_s: float,
    samples: list[tuple[float, float]],
    before: dict[str, float],
    after: dict[str, float],
) -> AsyncIterator[None]:
    async with sampling_cpu(pid, before, after), sampling_rss(pid, interval_s, samples):
        yield


async def run_suite(
    api: Target,
    direct: Target,
    options: BenchOptions,
    reporter: ProgressReporter | None = None,
    rss_pid: int | None = None,
    rss_interval_s: float = 2.0,
) -> tuple[RunRecord, ...]:
    """For each concurrency in order: the API run (RSS sampled), then the direct run."""
    records: list[RunRecord] = []
    for concurrency in options.concurrency:
        shape = LoadShape(concurrency, options.duration_s, options.warmup_s)
        records.append(await measure(api, shape, reporter, rss_pid, rss_interval_s))
        records.append(await measure(direct, shape, reporter))
    return tuple(records)

"""The measured runs: at each concurrency, the gateway, then the mock directly."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    """One run of target; with rss_pid, that tree's RSS is sampled over the measured phase."""
    label = f"{target.name} c={shape.concurrency}"
    samples: list[tuple[float, float]] = []
    measuring = None if rss_pid is None else sampling_rss(rss_pid, rss_interval_s, samples)
    stats = await run_load(target, shape, reporter, measuring, label)
    return RunRecord(target.name, shape.concurrency, stats, summarize_rss(samples))


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

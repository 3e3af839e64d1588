"""The performance targets of the gateway, each judged on a run: met, not met or not measured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tools.bench.history import Entry, entry_figures
from tools.bench.result import BenchResult, RunRecord

THROUGHPUT_CONCURRENCY = 64
LATENCY_CONCURRENCY = 1
IDLE_RSS_LIMIT_MB = 400.0
MODELS_TOLERANCE = 0.10
# "Flat" is bench's own reading of the target: a trend under 1 MB/min over at least 5 minutes.
FLAT_SLOPE_MB_PER_MIN = 1.0
FLAT_MIN_RUN_S = 300.0

MET, NOT_MET, NOT_MEASURED = "met", "NOT MET", "not measured"


@dataclass(frozen=True)
class Thresholds:
    """Numeric targets from the command line; a target without one is reported, not judged."""

    rps: float | None = None
    added_p50_ms: float | None = None
    added_p99_ms: float | None = None


@dataclass(frozen=True)
class Baseline:
    """The one-model run a many-model run is held against."""

    rps: float
    timestamp: str
    commit: str | None


def baseline_of(entry: Entry | None) -> Baseline | None:
    """The one-model run's api throughput at c=64 from its history entry, if it has one."""
    if entry is None:
        return None
    rps = entry_figures(entry).get(f"api c={THROUGHPUT_CONCURRENCY} req/s")
    if rps is None:
        return None
    return Baseline(rps, str(entry.get("timestamp", "?")), entry.get("commit"))


@dataclass(frozen=True)
class GoalLine:
    """One target: what was measured, what was wanted, and the verdict."""

    name: str
    measured: str
    target: str
    verdict: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured": self.measured,
            "target": self.target,
            "verdict": self.verdict,
        }


def _verdict(ok: bool) -> str:
    return MET if ok else NOT_MET


def throughput(result: BenchResult, minimum: float | None) -> GoalLine:
    """Predicts/s through the gateway at concurrency 64, with zero errors."""
    c = THROUGHPUT_CONCURRENCY
    name, record = f"throughput api c={c}", result.run("api", c)
    wanted = "0 errors" if minimum is None else f">= {minimum:g} predicts/s, 0 errors"
    if record is None:
        return GoalLine(name, "-", wanted, f"{NOT_MEASURED} (no --concurrency {c} run)")
    stats = record.stats
    measured = f"{stats.rps:.1f} predicts/s, {stats.errors} errors"
    if minimum is None:
        verdict = f"{_verdict(stats.errors == 0)} for errors; no predicts/s threshold (--goal-rps)"
        return GoalLine(name, measured, wanted, verdict)
    return GoalLine(name, measured, wanted, _verdict(stats.errors == 0 and stats.rps >= minimum))


def added_latency(result: BenchResult, which: str, maximum: float | None) -> GoalLine:
    """api minus direct latency at concurrency 1, which = "p50" or "p99"."""
    c = LATENCY_CONCURRENCY
    name = f"added latency {which} c={c}"
    flag = f"--goal-added-{which}-ms"
    wanted = "-" if maximum is None else f"<= {maximum:g} ms"
    added = result.added_ms(c)
    if added is None:
        return GoalLine(name, "-", wanted, f"{NOT_MEASURED} (needs api and direct runs at c={c})")
    value = added[0] if which == "p50" else added[1]
    measured = f"{value:.2f} ms"
    if maximum is None:
        return GoalLine(name, measured, wanted, f"no threshold given ({flag})")
    return GoalLine(name, measured, wanted, _verdict(value <= maximum))


def many_models(result: BenchResult, baseline: Baseline | None) -> GoalLine:
    """Throughput with N deployed models within 10% of the same run with one."""
    c, models = THROUGHPUT_CONCURRENCY, result.options.models
    name = f"{models if models > 1 else 'N'} models vs 1, api c={c}"
    wanted = f">= {100 * (1 - MODELS_TOLERANCE):g}% of the --models 1 run"
    record = result.run("api", c)
    if models == 1:
        return GoalLine(name, "-", wanted, f"{NOT_MEASURED} (one model: run with --models N)")
    if record is None:
        return GoalLine(name, "-", wanted, f"{NOT_MEASURED} (no --concurrency {c} run)")
    if baseline is None or baseline.rps <= 0:
        missing = "no --models 1 run with the same options in the history"
        return GoalLine(name, f"{record.stats.rps:.1f} predicts/s", wanted, missing)
    ratio = record.stats.rps / baseline.rps
    measured = f"{record.stats.rps:.1f} vs {baseline.rps:.1f} predicts/s ({100 * ratio:.1f}%)"
    wanted += f" of {baseline.timestamp}, commit {baseline.commit}"
    return GoalLine(name, measured, wanted, _verdict(ratio >= 1 - MODELS_TOLERANCE))


def idle_rss(result: BenchResult) -> GoalLine:
    """Resident memory of the idle stack after set-up."""
    name, wanted = "idle stack RSS", f"< {IDLE_RSS_LIMIT_MB:g} MB"
    if result.idle_rss_mb is None:
        return GoalLine(name, "-", wanted, f"{NOT_MEASURED} (needs --spawn-stack)")
    measured = f"{result.idle_rss_mb:.1f} MB ({result.options.models} models deployed)"
    return GoalLine(name, measured, wanted, _verdict(result.idle_rss_mb < IDLE_RSS_LIMIT_MB))


def _longest_sampled(result: BenchResult) -> RunRecord | None:
    sampled = [record for record in result.runs if record.rss is not None]
    # The longest run wins; at equal lengths the highest concurrency, the hardest test.
    return max(sampled, key=lambda r: (round(r.stats.elapsed_s), r.concurrency), default=None)


def flat_rss(result: BenchResult) -> GoalLine:
    """Stack RSS flat over a long run: the least-squares trend of the samples."""
    name = "stack RSS flat under load"
    wanted = f"slope <= {FLAT_SLOPE_MB_PER_MIN:g} MB/min over >= {FLAT_MIN_RUN_S:g} s"
    record = _longest_sampled(result)
    if record is None or record.rss is None:
        return GoalLine(name, "-", wanted, f"{NOT_MEASURED} (needs --spawn-stack)")
    rss, seconds = record.rss, record.stats.elapsed_s
    measured = (
        f"{record.label}: {rss.first_mb:.1f} -> {rss.last_mb:.1f} MB ({rss.growth_mb:+.1f}), "
        f"slope {rss.slope_mb_per_min:+.2f} MB/min over {seconds:.0f} s"
    )
    if seconds < FLAT_MIN_RUN_S:
        short = f"{NOT_MEASURED} (run shorter than {FLAT_MIN_RUN_S:g} s: --duration 300)"
        return GoalLine(name, measured, wanted, short)
    ok = rss.slope_mb_per_min <= FLAT_SLOPE_MB_PER_MIN
    return GoalLine(name, measured, wanted, _verdict(ok))


def evaluate(
    result: BenchResult, thresholds: Thresholds, baseline: Baseline | None
) -> list[GoalLine]:
    """Every target, in the order of the issue."""
    return [
        throughput(result, thresholds.rps),
        added_latency(result, "p50", thresholds.added_p50_ms),
        added_latency(result, "p99", thresholds.added_p99_ms),
        many_models(result, baseline),
        idle_rss(result),
        flat_rss(result),
    ]

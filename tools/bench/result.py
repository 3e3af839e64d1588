"""The bench result: what was run and measured, as the JSON file and as the printed summary."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.bench.load import LoadShape
from tools.bench.stats import RunStats

ROW_FORMAT = "{:<8} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8}"
HEADER = ("run", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors")


@dataclass(frozen=True)
class BenchConfig:
    """What was run, as recorded in the result file."""

    shape: LoadShape
    api: str
    upstream: str
    latency_ms: float


@dataclass(frozen=True)
class BenchResult:
    """Both runs plus memory figures of a spawned stack."""

    config: BenchConfig
    api: RunStats
    direct: RunStats
    idle_rss_mb: float | None = None
    peak_rss_mb: float | None = None
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def ratio_rps(self) -> float | None:
        """api rps / direct rps; None when the baseline had no successful request."""
        return self.api.rps / self.direct.rps if self.direct.rps > 0 else None

    @property
    def added_p50_ms(self) -> float | None:
        """api p50 - direct p50; None unless both runs had successful requests."""
        if self.api.succeeded == 0 or self.direct.succeeded == 0:
            return None
        return self.api.p50_ms - self.direct.p50_ms


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def result_to_json(result: BenchResult) -> dict[str, Any]:
    """The result file's content."""
    config, shape = result.config, result.config.shape
    return {
        "config": {
            "concurrency": shape.concurrency,
            "duration": shape.duration_s,
            "warmup": shape.warmup_s,
            "api": config.api,
            "upstream": config.upstream,
            "latency_ms": config.latency_ms,
        },
        "api": result.api.to_json(),
        "direct": result.direct.to_json(),
        "ratio_rps": _rounded(result.ratio_rps, 4),
        "added_p50_ms": _rounded(result.added_p50_ms),
        "idle_rss_mb": _rounded(result.idle_rss_mb, 1),
        "peak_rss_mb": _rounded(result.peak_rss_mb, 1),
        "timestamp": result.timestamp,
    }


def _row(name: str, stats: RunStats) -> str:
    latencies = (stats.p50_ms, stats.p95_ms, stats.p99_ms, stats.max_ms)
    cells = [f"{ms:.2f}" for ms in latencies]
    return ROW_FORMAT.format(name, stats.requests, f"{stats.rps:.1f}", *cells, stats.errors)


def _error_lines(name: str, stats: RunStats) -> list[str]:
    if not stats.error_samples:
        return []
    return [f"{name} error samples:", *(f"  {sample}" for sample in stats.error_samples)]


def format_report(result: BenchResult) -> str:
    """The human-readable summary printed at the end."""
    added, ratio = result.added_p50_ms, result.ratio_rps
    api_p50, direct_p50 = result.api.p50_ms, result.direct.p50_ms
    lines = [ROW_FORMAT.format(*HEADER), _row("api", result.api), _row("direct", result.direct), ""]
    lines.append(
        f"added latency p50 = {added:.2f} ms (api {api_p50:.2f} - direct {direct_p50:.2f})"
        if added is not None
        else "added latency p50 = n/a (a run had no successful request)"
    )
    ratio_text = f"{ratio:.3f}" if ratio is not None else "n/a"
    lines.append(f"throughput ratio api/direct = {ratio_text}")
    if result.idle_rss_mb is not None:
        lines.append(f"stack RSS idle = {result.idle_rss_mb:.1f} MB")
    if result.peak_rss_mb is not None:
        lines.append(f"stack RSS peak during api run = {result.peak_rss_mb:.1f} MB")
    lines += _error_lines("api", result.api) + _error_lines("direct", result.direct)
    return "\n".join(lines)


def write_result(path: Path, result: BenchResult) -> int:
    """Write the result file and say where; the exit status, 1 if it could not be written."""
    try:
        path.write_text(json.dumps(result_to_json(result), indent=2) + "\n")
    except OSError as exc:
        print(f"bench: cannot write {path}: {exc}", file=sys.stderr)
        return 1
    print(f"result written to {path}")
    return 0

"""Latency and throughput statistics of a load run: percentiles, the summary, the recorder."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = (50.0, 95.0, 99.0)
MAX_ERROR_SAMPLES = 5


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of values sorted ascending; 0.0 when there are none."""
    if not 0.0 <= pct <= 100.0:
        raise ValueError(f"percentile out of range: {pct}")
    if not sorted_values:
        return 0.0
    # The epsilon stops float noise (0.07 * 100 == 7.000000000000001) from bumping the rank.
    rank = math.ceil(pct * len(sorted_values) / 100.0 - 1e-9)
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


@dataclass(frozen=True)
class RunStats:
    """Summary of one measured run; latencies cover successful requests only."""

    requests: int
    errors: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    error_samples: tuple[str, ...] = ()

    @property
    def succeeded(self) -> int:
        return self.requests - self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "rps": round(self.rps, 3),
            "p50_ms": round(self.p50_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "error_samples": list(self.error_samples),
        }


def summarize(
    latencies_s: Sequence[float],
    errors: int,
    elapsed_s: float,
    error_samples: Sequence[str] = (),
) -> RunStats:
    """Summarize a run; rps counts successful requests only so fast failures cannot inflate it."""
    ordered = sorted(latencies_s)
    p50, p95, p99 = (percentile(ordered, pct) * 1000.0 for pct in PERCENTILES)
    return RunStats(
        requests=len(ordered) + errors,
        errors=errors,
        rps=len(ordered) / elapsed_s if elapsed_s > 0 else 0.0,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        max_ms=ordered[-1] * 1000.0 if ordered else 0.0,
        error_samples=tuple(error_samples),
    )


@dataclass
class Recorder:
    """Outcomes of one load phase, shared by all workers of that phase."""

    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.latencies_s) + self.errors

    def succeeded(self, seconds: float) -> None:
        self.latencies_s.append(seconds)

    def failed(self, message: str) -> None:
        self.errors += 1
        # A few distinct messages are enough to diagnose and stay bounded under an error storm.
        if len(self.error_samples) < MAX_ERROR_SAMPLES and message not in self.error_samples:
            self.error_samples.append(message)

    def summary(self, elapsed_s: float) -> RunStats:
        return summarize(self.latencies_s, self.errors, elapsed_s, self.error_samples)

"""Statistics of a load run: percentiles, a least-squares slope, the summary, the recorder."""

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


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x; 0.0 with fewer than two distinct x values."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0.0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


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
    elapsed_s: float = 0.0
    # CPU seconds the bench process itself spent during the run: its share of the machine.
    client_cpu_s: float = 0.0

    @property
    def succeeded(self) -> int:
        return self.requests - self.errors

    @property
    def client_cpu_ms_per_request(self) -> float:
        """Bench client CPU per request sent (successful or not), in milliseconds."""
        return self.client_cpu_s * 1000.0 / self.requests if self.requests else 0.0

    @property
    def client_cores(self) -> float:
        """Bench client CPU over the run's wall time: 1.0 is one core kept busy."""
        return self.client_cpu_s / self.elapsed_s if self.elapsed_s > 0 else 0.0

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
            "elapsed_s": round(self.elapsed_s, 3),
            "client_cpu_s": round(self.client_cpu_s, 3),
            "client_cpu_ms_per_req": round(self.client_cpu_ms_per_request, 4),
        }


def summarize(
    latencies_s: Sequence[float],
    errors: int,
    elapsed_s: float,
    error_samples: Sequence[str] = (),
    client_cpu_s: float = 0.0,
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
        elapsed_s=elapsed_s,
        client_cpu_s=client_cpu_s,
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

    def summary(self, elapsed_s: float, client_cpu_s: float = 0.0) -> RunStats:
        return summarize(self.latencies_s, self.errors, elapsed_s, self.error_samples, client_cpu_s)

"""The bench result: what was run and measured, its flat figures, and the JSON result file."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.bench.memory import RssSummary
from tools.bench.options import BenchOptions
from tools.bench.provenance import Provenance
from tools.bench.provision import Provisioned
from tools.bench.stats import RunStats

Figures = dict[str, float]


@dataclass(frozen=True)
class RunRecord:
    """One measured run: which target, at which concurrency, its stats and stack RSS."""

    target: str
    concurrency: int
    stats: RunStats
    rss: RssSummary | None = None
    # The spawned stack's CPU ms per predict by kind of process (tools/bench/cpu_split.py).
    stack_cpu_ms: dict[str, float] | None = None

    @property
    def label(self) -> str:
        return f"{self.target} c={self.concurrency}"

    def to_json(self) -> dict[str, Any]:
        rss = None if self.rss is None else self.rss.to_json()
        return {
            "target": self.target,
            "concurrency": self.concurrency,
            **self.stats.to_json(),
            "rss": rss,
            "stack_cpu_ms_per_req": None
            if self.stack_cpu_ms is None
            else {kind: round(ms, 4) for kind, ms in self.stack_cpu_ms.items()},
        }


@dataclass(frozen=True)
class BenchResult:
    """Everything one bench run measured, and where."""

    options: BenchOptions
    provenance: Provenance
    api: str
    upstream: str
    setup: Provisioned
    runs: tuple[RunRecord, ...]
    idle_rss_mb: float | None = None
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def run(self, target: str, concurrency: int) -> RunRecord | None:
        """The run of target at concurrency, if there was one."""
        for record in self.runs:
            if (record.target, record.concurrency) == (target, concurrency):
                return record
        return None

    def added_ms(self, concurrency: int) -> tuple[float, float] | None:
        """api minus direct (p50, p99) at concurrency; None unless both runs succeeded."""
        api, direct = self.run("api", concurrency), self.run("direct", concurrency)
        if api is None or direct is None or not (api.stats.succeeded and direct.stats.succeeded):
            return None
        return api.stats.p50_ms - direct.stats.p50_ms, api.stats.p99_ms - direct.stats.p99_ms


def _run_figures(record: RunRecord) -> Figures:
    stats, name = record.stats, record.label
    figures = {
        f"{name} req/s": stats.rps,
        f"{name} p50 ms": stats.p50_ms,
        f"{name} p99 ms": stats.p99_ms,
        f"{name} errors": float(stats.errors),
        f"{name} client CPU ms/req": stats.client_cpu_ms_per_request,
    }
    if record.rss is not None:
        figures[f"{name} RSS peak MB"] = record.rss.peak_mb
        figures[f"{name} RSS growth MB"] = record.rss.growth_mb
        figures[f"{name} RSS slope MB/min"] = record.rss.slope_mb_per_min
    return figures


def figures(result: BenchResult) -> Figures:
    """The run's figures by name, as stored in the history and compared between runs."""
    flat: Figures = {"set-up s": result.setup.total_s}
    if result.idle_rss_mb is not None:
        flat["idle RSS MB"] = result.idle_rss_mb
    for record in result.runs:
        flat.update(_run_figures(record))
    for concurrency in result.options.concurrency:
        added = result.added_ms(concurrency)
        if added is not None:
            flat[f"added p50 ms c={concurrency}"], flat[f"added p99 ms c={concurrency}"] = added
    return {name: round(value, 4) for name, value in flat.items()}


def result_to_json(result: BenchResult) -> dict[str, Any]:
    """The run as one JSON object: the result file, and (on one line) a history entry."""
    return {
        "timestamp": result.timestamp,
        **result.provenance.to_json(),
        "options": result.options.to_json(),
        "api": result.api,
        "upstream": result.upstream,
        "setup": result.setup.to_json(),
        "idle_rss_mb": None if result.idle_rss_mb is None else round(result.idle_rss_mb, 1),
        "runs": [record.to_json() for record in result.runs],
        "figures": figures(result),
    }


def write_result(path: Path, entry: dict[str, Any]) -> int:
    """Write the result file and say where; the exit status, 1 if it could not be written."""
    try:
        path.write_text(json.dumps(entry, indent=2) + "\n")
    except OSError as exc:
        print(f"bench: cannot write {path}: {exc}", file=sys.stderr)
        return 1
    print(f"result written to {path}")
    return 0

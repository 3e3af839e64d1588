"""`modelgate bench --metrics-cost`: predicts/s with Prometheus metrics on against off.

Two stacks run side by side, one started with MODELGATE_METRICS=off and one with it on, each
with one deployed model; the same load alternates between them (off, on, on, off, ...) so the
machine's drift touches both alike, and the medians are compared. Metrics are held to cost at
most 5 % of the throughput. Each run also weighs the stack's CPU per predict (its whole
process tree), a figure other load on the machine disturbs far less than predicts/s.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tools.bench.load import LoadShape
from tools.bench.proctree import cpu_seconds, tree_total
from tools.bench.provision import prepare_models
from tools.bench.stack import SpawnedStack, spawn_stack
from tools.bench.suite import measure
from tools.bench.targets import Target, api_target

if TYPE_CHECKING:
    from tools.bench.options import BenchOptions
    from tools.bench.progress import ProgressReporter

ROUNDS = 4  # runs per setting and concurrency, alternating
KEPT_SHARE = 0.95  # with metrics on, at least this share of the predicts/s with them off
SWITCH = "MODELGATE_METRICS"


@dataclass(frozen=True)
class Run:
    """One measured run against one stack: predicts/s, and the stack's CPU per predict."""

    rps: float
    cpu_ms: float
    errors: int


@dataclass(frozen=True)
class MetricsCost:
    """The runs at one concurrency, metrics off and on."""

    concurrency: int
    off: tuple[Run, ...]
    on: tuple[Run, ...]

    @property
    def kept(self) -> float:
        """Median predicts/s with metrics on over the median with them off."""
        off = _median(self.off, "rps")
        return _median(self.on, "rps") / off if off > 0 else 0.0

    def describe(self) -> str:
        """Both figures, each run's predicts/s, and the verdict against the target."""
        errors = sum(run.errors for run in (*self.off, *self.on))
        verdict = "met" if self.kept >= KEPT_SHARE and not errors else "not met"
        pairs = ", ".join(
            f"{a.rps:.0f}/{b.rps:.0f}" for a, b in zip(self.off, self.on, strict=True)
        )
        cpu_off, cpu_on = _median(self.off, "cpu_ms"), _median(self.on, "cpu_ms")
        return (
            f"metrics cost, api c={self.concurrency}, medians of {len(self.off)} runs each"
            f" (off/on req/s: {pairs}):\n"
            f"  off {_median(self.off, 'rps'):,.1f}/s, on {_median(self.on, 'rps'):,.1f}/s,"
            f" kept {self.kept:.1%} (target >= {KEPT_SHARE:.0%}, {errors} errors): {verdict}\n"
            f"  stack CPU per predict: off {cpu_off:.3f} ms, on {cpu_on:.3f} ms"
            f" ({cpu_on - cpu_off:+.3f} ms, {cpu_on / cpu_off - 1 if cpu_off else 0:+.1%})"
        )


def _median(runs: tuple[Run, ...], field: str) -> float:
    return float(statistics.median(getattr(run, field) for run in runs))


def tree_cpu_s(pid: int) -> float:
    """User and system CPU seconds of a process and its live descendants."""
    return tree_total(pid, cpu_seconds)


async def _model_of(api: str, upstream: str, reporter: ProgressReporter | None) -> str:
    provisioned = await prepare_models(api, upstream, 1, 1, reporter)
    return provisioned.model_ids[0]


async def _run(
    target: Target, pid: int, shape: LoadShape, reporter: ProgressReporter | None
) -> Run:
    before = tree_cpu_s(pid)
    record = await measure(target, shape, reporter)
    used_ms = (tree_cpu_s(pid) - before) * 1000
    requests = record.stats.requests + record.stats.errors
    return Run(record.stats.rps, used_ms / requests if requests else 0.0, record.stats.errors)


async def compare(
    stacks: dict[bool, SpawnedStack],
    upstream: str,
    options: BenchOptions,
    reporter: ProgressReporter | None,
) -> list[MetricsCost]:
    """Alternate the same load between the stacks with metrics off and on."""
    targets = {
        on: api_target(stack.api, [await _model_of(stack.api, upstream, reporter)])
        for on, stack in stacks.items()
    }
    costs = []
    for concurrency in options.concurrency:
        for on in (False, True):  # warm both up, unmeasured: the CPU figures span whole runs
            warm = LoadShape(concurrency, max(options.warmup_s, 0.1), 0.0)
            await measure(targets[on], warm, reporter)
        shape = LoadShape(concurrency, options.duration_s, 0.0)
        runs: dict[bool, list[Run]] = {False: [], True: []}
        for round_ in range(ROUNDS):
            # off, on, then on, off: a drift of the machine within a round touches both alike.
            for on in (False, True) if round_ % 2 == 0 else (True, False):
                runs[on].append(await _run(targets[on], stacks[on].pid, shape, reporter))
        costs.append(MetricsCost(concurrency, tuple(runs[False]), tuple(runs[True])))
    return costs


@contextlib.contextmanager
def two_stacks() -> Iterator[dict[bool, SpawnedStack]]:
    """Yield {metrics on?: stack} for two throw-away stacks, metrics off and on."""
    with contextlib.ExitStack() as resources:
        stacks = {
            on: resources.enter_context(spawn_stack({SWITCH: "on" if on else "off"}))
            for on in (False, True)
        }
        print(
            f"bench: metrics off at {stacks[False].api}, on at {stacks[True].api}", file=sys.stderr
        )
        yield stacks

"""The spawned stack's CPU per predict, by kind of process, over a measured run.

Throughput on a shared machine is bounded by the CPU every process spends per predict; this
says where it goes (the API processes, the nodes, the two Redis servers, the supervisor), read
from the processes' own counters before and after the measured phase.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

from tools.bench.proctree import cpu_seconds, tree_sums

KINDS = ("api", "node", "redis", "supervisor")


def kind_of(cmdline: list[str]) -> str:
    """Which part of the stack a process is, from its command line."""
    text = " ".join(cmdline)
    if "valkey-server" in text or "redis-server" in text:
        return "redis"
    if " worker" in text:
        return "node"
    if text.endswith(" api") or " api " in text:
        return "api"
    if " up" in text:
        return "supervisor"
    return "other"


def cpu_by_kind(pid: int) -> dict[str, float]:
    """CPU seconds used so far by pid and its descendants, summed by kind_of."""
    return tree_sums(pid, cpu_seconds, lambda proc: kind_of(proc.cmdline()))


def per_request_ms(
    before: Mapping[str, float], after: Mapping[str, float], requests: int
) -> dict[str, float]:
    """Milliseconds of CPU per request by kind, over the run between the two readings."""
    if requests <= 0:
        return {}
    return {
        kind: max(0.0, after[kind] - before.get(kind, 0.0)) * 1000 / requests
        for kind in after
        if kind != "other"
    }


@contextlib.asynccontextmanager
async def sampling_cpu(
    pid: int, before: dict[str, float], after: dict[str, float]
) -> AsyncIterator[None]:
    """Fill before and after with pid's tree CPU by kind, as the block starts and ends."""
    # In a thread: walking /proc must not stall the event loop that times requests.
    before.update(await asyncio.to_thread(cpu_by_kind, pid))
    try:
        yield
    finally:
        after.update(await asyncio.to_thread(cpu_by_kind, pid))


def format_split(label: str, split: Mapping[str, float]) -> str:
    """One report line: the stack's CPU per predict of a run, by kind, and in all."""
    parts = [f"{kind} {split[kind]:.3f}" for kind in KINDS if kind in split]
    total = sum(split.values())
    return f"stack CPU ms per predict {label}: {', '.join(parts)}; all {total:.3f}"

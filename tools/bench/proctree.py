"""Sums over a process and its live descendants: the stack's memory and CPU, read by psutil."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import psutil


def tree_total(pid: int, measure: Callable[[psutil.Process], float]) -> float:
    """measure() summed over pid and every descendant; 0.0 if pid is gone."""
    return sum(tree_sums(pid, measure, lambda proc: "").values())


def tree_sums(
    pid: int,
    measure: Callable[[psutil.Process], float],
    key: Callable[[psutil.Process], str],
) -> dict[str, float]:
    """measure() summed over pid and every descendant, by key(); {} if pid is gone."""
    totals: dict[str, float] = {}
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return totals
    for proc in procs:
        # A child may exit between listing and reading; skip it rather than lose the sample.
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            name = key(proc)
            totals[name] = totals.get(name, 0.0) + measure(proc)
    return totals


def cpu_seconds(proc: psutil.Process) -> float:
    """User and system CPU seconds a process has used so far."""
    times = proc.cpu_times()
    return float(times.user + times.system)


def rss_bytes(proc: psutil.Process) -> float:
    """A process's resident memory in bytes."""
    return float(proc.memory_info().rss)

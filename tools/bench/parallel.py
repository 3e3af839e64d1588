"""Set-up steps over many items: a bounded number at once, counted, with progress."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from tools.bench.progress import Tally

if TYPE_CHECKING:
    from tools.bench.progress import ProgressReporter

T = TypeVar("T")
R = TypeVar("R")


async def for_each(
    items: Sequence[T],
    parallel: int,
    step: Callable[[T], Awaitable[R]],
    tally: Tally,
) -> list[R]:
    """step(item) for every item, at most parallel at once, in order; counted in tally.

    The first failure cancels the remaining steps and is raised.
    """
    indexes = iter(range(len(items)))
    slots: dict[int, R] = {}

    async def work() -> None:
        for index in indexes:  # shared by the workers: each index is taken exactly once
            slots[index] = await step(items[index])
            tally.count += 1

    tasks = [asyncio.create_task(work()) for _ in range(min(parallel, len(items)))]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [slots[index] for index in range(len(items))]


async def for_each_tracked(
    label: str,
    items: Sequence[T],
    parallel: int,
    step: Callable[[T], Awaitable[R]],
    reporter: ProgressReporter | None,
) -> list[R]:
    """for_each with a progress line per reporter interval, if there is a reporter."""
    tally, done = Tally(), asyncio.Event()
    watcher = None
    if reporter is not None:
        watch = reporter.watch_items(label, len(items), tally, time.perf_counter(), done)
        watcher = asyncio.create_task(watch)
    try:
        return await for_each(items, parallel, step, tally)
    finally:
        done.set()
        if watcher is not None:
            await watcher

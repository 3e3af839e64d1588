"""Progress on stderr: a live line on a terminal, else a line every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TextIO

TTY_PROGRESS_S = 0.25
LOG_PROGRESS_S = 5.0


class Counted(Protocol):
    """Something that counts finished items (requests, registrations) and failures."""

    @property
    def count(self) -> int: ...

    @property
    def errors(self) -> int: ...


@dataclass
class Tally:
    """A plain Counted for set-up steps."""

    count: int = 0
    errors: int = 0


def format_progress(
    label: str, elapsed_s: float, total_s: float, requests: int, rate: float, errors: int
) -> str:
    """One load progress line: elapsed/total seconds, requests so far, current req/s, errors."""
    return (
        f"{label}: {elapsed_s:5.1f}/{total_s:.1f}s  {requests} requests  "
        f"{rate:.1f} req/s  {errors} errors"
    )


def format_item_progress(label: str, done: int, total: int, elapsed_s: float) -> str:
    """One set-up progress line: items done of total, the average rate, elapsed seconds."""
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    return f"{label}: {done}/{total}  {rate:.1f}/s  {elapsed_s:.1f}s"


@dataclass
class ProgressReporter:
    """Writes progress lines: live with \\r on a TTY, else a line per interval."""

    stream: TextIO
    interactive: bool
    interval_s: float
    _width: int = 0

    @classmethod
    def for_stderr(cls, no_progress: bool) -> ProgressReporter:
        interactive = not no_progress and sys.stderr.isatty()
        return cls(sys.stderr, interactive, TTY_PROGRESS_S if interactive else LOG_PROGRESS_S)

    async def watch(
        self, label: str, total_s: float, counted: Counted, started: float, done: asyncio.Event
    ) -> None:
        """Report a timed load phase until done is set, then once more with the final numbers."""
        last_count, last_time = counted.count, started

        def render(now: float) -> str:
            nonlocal last_count, last_time
            # While running, the rate since the last line; once done, the phase's average.
            since = started if done.is_set() else last_time
            base = 0 if done.is_set() else last_count
            rate = (counted.count - base) / max(now - since, 1e-9)
            last_count, last_time = counted.count, now
            return format_progress(
                label, now - started, total_s, counted.count, rate, counted.errors
            )

        await self._follow(render, done)

    async def watch_items(
        self, label: str, total: int, counted: Counted, started: float, done: asyncio.Event
    ) -> None:
        """Report a set-up step over total items until done is set."""

        def render(now: float) -> str:
            return format_item_progress(label, counted.count, total, now - started)

        await self._follow(render, done)

    async def _follow(self, render: Callable[[float], str], done: asyncio.Event) -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self.interval_s)
            self._emit(render(time.perf_counter()))
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()

    def _emit(self, line: str) -> None:
        if self.interactive:
            # Pad to the widest line so far so a shorter line fully covers the previous one.
            self._width = max(self._width, len(line))
            self.stream.write("\r" + line.ljust(self._width))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

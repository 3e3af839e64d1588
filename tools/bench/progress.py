"""Progress of a load phase on stderr: a live line on a terminal, else a line every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from tools.bench.stats import Recorder

TTY_PROGRESS_S = 0.25
LOG_PROGRESS_S = 5.0


def format_progress(
    label: str, elapsed_s: float, total_s: float, requests: int, rate: float, errors: int
) -> str:
    """One progress line: elapsed/total seconds, requests so far, current req/s, errors."""
    return (
        f"{label}: {elapsed_s:5.1f}/{total_s:.1f}s  {requests} requests  "
        f"{rate:.1f} req/s  {errors} errors"
    )


@dataclass
class ProgressReporter:
    """Writes the progress of each load phase: live with \\r on a TTY, else a line per interval."""

    stream: TextIO
    interactive: bool
    interval_s: float
    _width: int = 0

    @classmethod
    def for_stderr(cls, no_progress: bool) -> ProgressReporter:
        interactive = not no_progress and sys.stderr.isatty()
        return cls(sys.stderr, interactive, TTY_PROGRESS_S if interactive else LOG_PROGRESS_S)

    async def watch(
        self, label: str, total_s: float, recorder: Recorder, started: float, done: asyncio.Event
    ) -> None:
        """Report until done is set, then once more with the final numbers."""
        last_count, last_time = 0, started
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self.interval_s)
            now = time.perf_counter()
            rate = (recorder.count - last_count) / max(now - last_time, 1e-9)
            last_count, last_time = recorder.count, now
            line = format_progress(label, now - started, total_s, last_count, rate, recorder.errors)
            self._emit(line)
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

"""Painless scripts of connector pre/post-process functions: compile once, run sandboxed.

ML Commons runs these as Painless template scripts: `params` is the model's parsed answer
(post-process) or {"text_docs": [...]} (pre-process), and the script returns a String. A
script that does not parse, or uses anything outside the supported subset, is refused with
the line and the problem; a run is bounded in loop iterations and calls, call depth and wall
time, and a failure names the line.
"""

from __future__ import annotations

import functools
from typing import Any

from common.errors import IllegalArgumentError
from common.painless.closures import Budget, Stmt
from common.painless.values import Fault, Rope, type_name

MAX_SOURCE_CHARS = 100_000
MAX_STEPS = 1_000_000  # Painless' own loop counter limit
MAX_SECONDS = 1.0


class Script:
    """A compiled script: run it as often as needed, from any thread."""

    def __init__(self, source: str, body: Stmt, frame_size: int, what: str) -> None:
        self.source = source
        self.what = what
        self._body = body
        self._frame_size = frame_size

    def run(
        self,
        params: dict[str, Any],
        *,
        max_steps: int = MAX_STEPS,
        max_seconds: float = MAX_SECONDS,
    ) -> str | None:
        """Run with `params`; return the script's String, or None when it returns null.

        Raises IllegalArgumentError naming the line when the script fails or exceeds its
        budget.
        """
        result = self.run_value(params, max_steps=max_steps, max_seconds=max_seconds)
        return result.text() if type(result) is Rope else result  # type: ignore[return-value]

    def run_value(
        self,
        params: dict[str, Any],
        *,
        max_steps: int = MAX_STEPS,
        max_seconds: float = MAX_SECONDS,
    ) -> str | Rope | None:
        """Like run, but a String built around long lists of doubles may come as a Rope."""
        frame: list[Any] = [None] * self._frame_size
        frame[0] = Budget(max_steps, max_seconds)
        frame[2] = params
        try:
            self._body(frame)
        except Fault as fault:
            where = f" at line {fault.line}" if fault.line else ""
            raise IllegalArgumentError(f"Painless {self.what} failed{where}: {fault}") from None
        except RecursionError:
            raise IllegalArgumentError(
                f"Painless {self.what} failed: too many nested calls or expressions"
            ) from None
        result = frame[1]
        if result is None or type(result) is str or type(result) is Rope:
            return result
        raise IllegalArgumentError(
            f"Painless {self.what} failed: it must return a String, not {type_name(result)}"
        )


def is_script(function: str | None) -> bool:
    """True for a process function that is a script rather than a built-in name."""
    return function is not None and not function.startswith("connector.")


def compile_script(source: str, what: str = "script") -> Script:
    """Compile source, or raise IllegalArgumentError naming the line and the problem."""
    # Imported here: the parser (lark) is about 5 MB per process, and most processes never
    # compile a script (a connector without one, a node whose models use built-ins).
    from common.painless.parsing import compile_source

    return compile_source(source, what)


@functools.lru_cache(maxsize=512)
def cached(source: str, what: str = "script") -> Script:
    """compile_script, remembered: the same text compiles once per process."""
    return compile_script(source, what)

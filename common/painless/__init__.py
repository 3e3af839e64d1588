"""Painless scripts of connector pre/post-process functions: compile once, run sandboxed.

ML Commons runs these as Painless template scripts: `params` is the model's parsed answer
(post-process) or {"text_docs": [...]} (pre-process), and the script returns a String. A
script that does not parse, or uses anything outside the supported subset, is refused with
the line and the problem; a run is bounded in loop iterations and calls, call depth and wall
time, and a failure names the line.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from common.errors import IllegalArgumentError
from common.painless.closures import Budget, Stmt
from common.painless.compiler import CompileFault, Compiler, Node
from common.painless.grammar import parser
from common.painless.values import Fault, Rope, type_name

MAX_SOURCE_CHARS = 100_000
MAX_STEPS = 1_000_000  # Painless' own loop counter limit
MAX_SECONDS = 1.0

# ML Commons prepends this `escape` method when a script calls escape(...) without defining
# it (StringUtils.addDefaultMethod): it escapes backslashes, quotes and control characters
# for a JSON string. The same steps, written for this interpreter.
DEFAULT_ESCAPE = (
    "String escape(def input) {\n"
    '  if (input.contains("\\\\")) { input = input.replace("\\\\", "\\\\\\\\"); }\n'
    '  if (input.contains("\\"")) { input = input.replace("\\"", "\\\\\\""); }\n'
    "  if (input.contains('\r')) { input = input.replace('\r', '\\\\r'); }\n"
    '  if (input.contains("\\\\t")) { input = input.replace("\\\\t", "\\\\\\\\\\\\t"); }\n'
    "  if (input.contains('\n')) { input = input.replace('\n', '\\\\n'); }\n"
    "  if (input.contains('\b')) { input = input.replace('\b', '\\\\b'); }\n"
    "  if (input.contains('\f')) { input = input.replace('\f', '\\\\f'); }\n"
    "  return input;\n"
    "}\n"
)
_USES_ESCAPE = re.compile(r"(?<!\bString\s)\bescape\s*\(")
_DEFINES_ESCAPE = re.compile(r"String\s+escape\s*\(\s*(def|String)\s+.*?\)\s*\{?")


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
    if len(source) > MAX_SOURCE_CHARS:
        raise IllegalArgumentError(
            f"Invalid painless {what}: longer than {MAX_SOURCE_CHARS} characters"
        )
    try:
        tree = _parse(source)
        if _USES_ESCAPE.search(source) and not _DEFINES_ESCAPE.search(source):
            tree.children[:0] = _default_escape().children
        body, size = Compiler().compile(tree)
    except CompileFault as fault:
        raise IllegalArgumentError(f"Invalid painless {what}: {fault}") from None
    except RecursionError:
        raise IllegalArgumentError(f"Invalid painless {what}: nested too deeply") from None
    return Script(source, body, size, what)


@functools.lru_cache(maxsize=512)
def cached(source: str, what: str = "script") -> Script:
    """compile_script, remembered: the same text compiles once per process."""
    return compile_script(source, what)


@functools.cache
def _default_escape() -> Node:
    return _parse(DEFAULT_ESCAPE)


def _parse(source: str) -> Node:
    try:
        return parser().parse(source)
    except UnexpectedInput as error:
        raise CompileFault(error.line if error.line > 0 else 1, _problem(error)) from None


def _problem(error: UnexpectedInput) -> str:
    if isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken) and error.token.type == "$END"
    ):
        return "unexpected end of script"
    if isinstance(error, UnexpectedToken):
        return f"unexpected [{error.token}]"
    if isinstance(error, UnexpectedCharacters):
        return f"unexpected character [{error.char}]"
    return "invalid syntax"

"""Parse and compile Painless source (imported on the first compile: lark is large)."""

from __future__ import annotations

import functools
import re

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from common.errors import IllegalArgumentError
from common.painless import MAX_SOURCE_CHARS, Script
from common.painless.compiler import CompileFault, Compiler, Node
from common.painless.grammar import parser

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


def compile_source(source: str, what: str = "script") -> Script:
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

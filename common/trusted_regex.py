"""The trusted-endpoint regexes: which patterns are allowed, and matching URLs against them.

Matching uses RE2 (google-re2), whose time is linear in the URL for any pattern: no setting
can make a connector create or a predict backtrack. Linear is still O(URL x pattern size), so
both are bounded: each pattern's compiled size, a list's total size, and the URL's length.
A pattern must also parse as a Python regex, for the nested-quantifier check ML Commons makes
(and its messages), so only the syntax both dialects share is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

from common.errors import IllegalArgumentError

MAX_PATTERN_CHARS = 256
# RE2 instructions; ML Commons' defaults compile to at most 38. Together with the URL bound
# they keep the worst case (RE2 falling back from its DFA to its NFA) to a few milliseconds.
MAX_PROGRAM_SIZE = 1_000
MAX_TOTAL_PROGRAM_SIZE = 5_000
# Longer URLs are refused by upstream servers anyway (8 KiB request lines are the norm).
MAX_URL_CHARS = 8_192
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


def check_patterns(patterns: list[str]) -> None:
    """Raise the 400 ML Commons gives for a bad pattern; bound the list's total size."""
    total = sum(check_pattern(pattern) for pattern in patterns)
    if total > MAX_TOTAL_PROGRAM_SIZE:
        raise IllegalArgumentError(
            f"Regex patterns too complex together (they compile to {total} instructions, "
            f"max {MAX_TOTAL_PROGRAM_SIZE})"
        )


def check_pattern(pattern: str) -> int:
    """Refuse a pattern that is too long, invalid, ReDoS-prone or too big; return its size."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise IllegalArgumentError(
            f"Regex pattern too long (max {MAX_PATTERN_CHARS} chars): {pattern}"
        )
    tree = _python_tree(pattern)
    if _walk(tree, inside_repeat=False):
        raise IllegalArgumentError(
            "Regex pattern contains nested quantifiers or backreferences that may cause "
            f"ReDoS: {pattern}"
        )
    compiled = _compiled(pattern)
    if compiled is None:
        # Lookarounds, possessive quantifiers, \Z and the like: RE2 cannot run them in
        # linear time, so they are refused rather than matched by a backtracking engine.
        raise IllegalArgumentError(f"Invalid regex pattern: {pattern}")
    size = int(compiled.programsize)
    if size > MAX_PROGRAM_SIZE:
        raise IllegalArgumentError(
            f"Regex pattern too complex (it compiles to {size} instructions, "
            f"max {MAX_PROGRAM_SIZE}; prefer + or * to large counted repeats): {pattern}"
        )
    return size


def is_trusted(url: str, patterns: Iterable[str]) -> bool:
    """True when url fully matches one pattern (Java Matcher.matches semantics)."""
    if len(url) > MAX_URL_CHARS or not _is_utf8_encodable(url):
        return False
    for pattern in patterns:
        compiled = _compiled(pattern)
        # A stored pattern RE2 cannot compile (accepted by an older release) trusts nothing.
        if compiled is not None and compiled.fullmatch(url) is not None:
            return True
    return False


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any | None:
    """Return the RE2 program (typed Any: google-re2 has no stubs), or None if it has none."""
    options = re2.Options()
    options.log_errors = False  # a refused pattern is a 400, not a line on stderr
    try:
        return re2.compile(pattern, options=options)
    except (re2.error, UnicodeEncodeError):
        return None


def _is_utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: RE2 reads UTF-8 only
        return False
    return True


def _python_tree(pattern: str) -> Any:
    # re._parser is the stdlib's own regex parser; its tree is the reliable way to see
    # quantifier nesting and backreferences.
    from re import _parser  # type: ignore[attr-defined,unused-ignore]

    try:
        return _parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        raise IllegalArgumentError(f"Invalid regex pattern: {pattern}") from None


def _walk(items: Any, *, inside_repeat: bool) -> bool:
    """True for backreferences or a repeated group that itself repeats (e.g. (a+)+)."""
    for op, arg in items:
        name = str(op)
        if name in ("GROUPREF", "GROUPREF_EXISTS"):
            return True
        if name in _REPEATS:
            _low, high, sub = arg
            if inside_repeat and high > 1:
                return True
            if _walk(sub, inside_repeat=inside_repeat or high > 1):
                return True
        elif name in ("SUBPATTERN", "ASSERT", "ASSERT_NOT"):
            if _walk(arg[-1], inside_repeat=inside_repeat):
                return True
        elif name == "BRANCH" and any(_walk(b, inside_repeat=inside_repeat) for b in arg[1]):
            return True
    return False

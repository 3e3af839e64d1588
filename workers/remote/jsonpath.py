"""The JSONPath subset connectors use in response_filter: $, .key, ['key'], [n], [*], .*.

Written here because the filters ML Commons blueprints use need only this much, and the
JSONPath packages on PyPI each bring a parser generator for far more syntax.
"""

from __future__ import annotations

import re
from typing import Any

from common.errors import IllegalArgumentError

_TOKEN = re.compile(r"\.(\*|[A-Za-z_$][\w$-]*)|\[(\*|-?\d+|'[^']*'|\"[^\"]*\")\]")
MISSING = object()


def parse(path: str) -> list[str | int]:
    """Split a path into steps: names, indexes, and "*" for wildcards."""
    if not path.startswith("$"):
        raise IllegalArgumentError(f"Invalid JSONPath: {path}")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if match is None:
            raise IllegalArgumentError(f"Invalid JSONPath: {path}")
        name, bracket = match.groups()
        steps.append(name if name is not None else _bracket(bracket))
        pos = match.end()
    return steps


def _bracket(text: str) -> str | int:
    if text == "*":
        return "*"
    if text[0] in "'\"":
        return text[1:-1]
    return int(text)


def query(data: Any, path: str) -> Any:
    """Return the value at path; a list of matches when the path has a wildcard; MISSING if none."""
    steps = parse(path)
    found = _walk([data], steps)
    if "*" in steps:
        return found
    return found[0] if found else MISSING


def _walk(nodes: list[Any], steps: list[str | int]) -> list[Any]:
    for step in steps:
        nodes = [child for node in nodes for child in _children(node, step)]
    return nodes


def _children(node: Any, step: str | int) -> list[Any]:
    if step == "*":
        return (
            list(node.values())
            if isinstance(node, dict)
            else list(node)
            if isinstance(node, list)
            else []
        )
    if isinstance(step, int):
        return [node[step]] if isinstance(node, list) and -len(node) <= step < len(node) else []
    return [node[step]] if isinstance(node, dict) and step in node else []

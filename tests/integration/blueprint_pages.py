"""Read ML Commons connector blueprint pages into runnable cases.

A page is Markdown whose code blocks hold Dev Tools requests (`POST /_plugins/...` then a JSON
body) and sample responses (bare JSON). The JSON is Dev Tools flavoured: `//` comments,
`\"\"\"triple-quoted\"\"\"` strings, `...` where a list or object was cut short, trailing commas.

A case is what a reader runs top to bottom: one connector (from `connectors/_create` or inline
in `models/_register`), the register call, and the predict calls that follow, each with the
sample response printed after it. Connector bodies printed back to back are alternatives of one
case (self-managed credentials first, then an AWS OpenSearch Service `roleArn` variant, or an
older-version script variant).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUEST_LINE = re.compile(r"^(GET|POST|PUT|DELETE)\s+(\S.*?)\s*$")
FENCE = re.compile(r"^\s*(`{3,})")
HEADING = re.compile(r"^\s*#{1,6}\s+(.*)$")
# Credentials only AWS OpenSearch Service can use: it assumes the role or reads the secret.
MANAGED_ONLY_CREDENTIALS = ("roleArn", "secretArn")


@dataclass
class Block:
    """One code block of a page: an optional request line and its (lenient) JSON body."""

    heading: str
    method: str | None
    path: str | None
    body: Any
    fragment: bool  # the page elides parts of the body with `...`
    text: str


@dataclass
class Predict:
    path: str
    body: Any
    heading: str
    sample: Any = None


@dataclass
class Case:
    """One connector, how to register it, and the predicts run against it."""

    heading: str
    connectors: list[Block] = field(default_factory=list)
    register: Block | None = None
    predicts: list[Predict] = field(default_factory=list)
    inline: bool = False  # the connector is inside the register body


# ---------------------------------------------------------------------------------------------
# Lenient JSON


def _triple_quoted(text: str) -> str:
    return re.sub(r'"""(.*?)"""', lambda m: json.dumps(m.group(1)), text, flags=re.DOTALL)


def _scan(text: str) -> tuple[str, bool]:
    """Drop comments and `...` outside strings; report whether any `...` was dropped."""
    out: list[str] = []
    elided = False
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == '"':
            end = i + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i : end + 1])
            i = end + 1
        elif text.startswith("//", i) or text.startswith("\\\\", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("..", i):
            elided = True
            while i < n and text[i] == ".":
                i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out), elided


def _drop_dangling_commas(text: str) -> str:
    previous = None
    while previous != text:
        previous = text
        text = re.sub(r",(\s*[}\]])", r"\1", text)
        text = re.sub(r"([\[{]\s*),", r"\1", text)
        text = re.sub(r",(\s*),", r",\1", text)
    return text


def lenient_json(text: str) -> tuple[Any, bool]:
    """Parse Dev Tools JSON; return (value or None when it does not parse, elided)."""
    cleaned, elided = _scan(_triple_quoted(text))
    cleaned = _drop_dangling_commas(cleaned)
    for candidate in (cleaned, _closed(cleaned)):
        try:
            return json.loads(candidate, strict=False), elided
        except ValueError:
            continue
    return None, elided


def _closed(text: str) -> str:
    """text with the brackets a page forgot to close (a block cut off at its end)."""
    stack: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
        elif char == '"':
            in_string = True
        elif char in "[{":
            stack.append("]" if char == "[" else "}")
        elif char in "]}" and stack:
            stack.pop()
    return text + "".join(reversed(stack))


# ---------------------------------------------------------------------------------------------
# Blocks


def _split_request(lines: list[str]) -> tuple[str | None, str | None, str]:
    body_lines = list(lines)
    while body_lines and not body_lines[0].strip():
        body_lines.pop(0)
    if not body_lines:
        return None, None, ""
    match = REQUEST_LINE.match(body_lines[0].strip())
    if match is None:
        return None, None, "\n".join(body_lines)
    rest = body_lines[1:]
    # Some pages put HTTP headers (Content-Type: ...) between the request line and the body.
    while rest and re.match(r"^[A-Za-z-]+:\s", rest[0].strip()):
        rest.pop(0)
    return match.group(1), match.group(2), "\n".join(rest)


def _block(heading: str, lines: list[str]) -> Block:
    method, path, text = _split_request(lines)
    body, elided = lenient_json(text) if text.strip() else (None, False)
    return Block(heading, method, path, body, elided, text)


def read_blocks(page: Path) -> list[Block]:
    """Every code block of a page, in order, with the nearest heading above it."""
    blocks: list[Block] = []
    heading = ""
    inside: list[str] | None = None
    fence = ""
    for line in page.read_text(encoding="utf-8").splitlines():
        if inside is None:
            opening = FENCE.match(line)
            if opening:
                inside, fence = [], opening.group(1)
            elif match := HEADING.match(line):
                heading = match.group(1).strip()
            continue
        if line.strip().startswith(fence) and line.strip().strip("`") == "":
            blocks.append(_block(heading, inside))
            inside = None
        elif line.rstrip().endswith("```"):  # a closing fence glued to the last line: "}```"
            inside.append(line.rstrip()[:-3])
            blocks.append(_block(heading, inside))
            inside = None
        else:
            inside.append(line)
    return blocks


# ---------------------------------------------------------------------------------------------
# Cases


def _kind(block: Block) -> str:
    path = block.path or ""
    if block.method == "POST" and path.startswith("/_plugins/_ml/connectors/_create"):
        return "connector"
    if block.method == "POST" and path.startswith("/_plugins/_ml/models/_register"):
        return "register"
    if block.method == "POST" and ("/_predict" in path or "/_batch_predict" in path):
        return "predict"
    if block.method is None and isinstance(block.body, dict) and "inference_results" in block.body:
        return "sample"
    return "other"


def _attach_sample(case: Case | None, block: Block) -> None:
    if case is None:
        return
    waiting = [p for p in case.predicts if p.sample is None]
    if waiting:
        waiting[0].sample = block.body


def _on_connector(cases: list[Case], block: Block) -> None:
    current = cases[-1] if cases else None
    if current is not None and not current.inline and current.register is None:
        if not current.predicts:
            current.connectors.append(block)
            return
    cases.append(Case(block.heading, [block]))


def _on_register(cases: list[Case], block: Block) -> None:
    body = block.body if isinstance(block.body, dict) else {}
    if "connector" in body:
        current = cases[-1] if cases else None
        if current is not None and current.inline and not current.predicts:
            current.connectors.append(block)  # another platform's variant of the same model
        else:
            cases.append(Case(block.heading, [block], register=block, inline=True))
        return
    if cases and cases[-1].register is None:
        cases[-1].register = block


def read_cases(page: Path) -> list[Case]:
    """The runnable cases of a page, in page order."""
    cases: list[Case] = []
    for block in read_blocks(page):
        kind = _kind(block)
        if kind == "connector":
            _on_connector(cases, block)
        elif kind == "register":
            _on_register(cases, block)
        elif kind == "predict" and cases:
            cases[-1].predicts.append(Predict(block.path or "", block.body, block.heading))
        elif kind == "sample":
            _attach_sample(cases[-1] if cases else None, block)
    return cases


def split_by_heading(case: Case, pairs: list[tuple[str, str]]) -> list[Case]:
    """Split a case whose connectors and predicts are listed in separate sections.

    pairs maps a connector section heading (substring) to its predict section heading
    (substring), in page order.
    """
    split: list[Case] = []
    for connector_heading, predict_heading in pairs:
        connectors = [c for c in case.connectors if connector_heading in c.heading]
        predicts = [p for p in case.predicts if predict_heading in p.heading]
        split.append(Case(connector_heading, connectors, case.register, predicts))
    return split


def managed_only(connector: dict[str, Any]) -> str | None:
    """The credential key that only AWS OpenSearch Service can use, if the body has one."""
    credential = connector.get("credential") or {}
    return next((key for key in MANAGED_ONLY_CREDENTIALS if key in credential), None)


def connector_of(block: Block) -> dict[str, Any] | None:
    """The connector body of a create block or an inline register block."""
    body = block.body
    if not isinstance(body, dict):
        return None
    inline = body.get("connector")
    return inline if isinstance(inline, dict) else body

"""Fill connector templates (url, headers, request_body) with parameters and credentials.

Follows ML Commons: request parameters are JSON-escaped unless they hold a JSON object or
array (spliced raw); ${parameters.x:-default} and $${...} escapes work; substitution is
recursive; leftovers are reported by name.
"""

from __future__ import annotations

import json
import re
from typing import Any

from common.errors import IllegalArgumentError
from common.request_rules import check_header_value

# Substitution is recursive; these bound what a request can make a node build.
MAX_DEPTH = 8
MAX_FILLED_CHARS = 32 * 1024 * 1024
TOO_LARGE = "Parameter substitution produced a payload that is too large"
PARAMS = "${parameters."
CREDS = "${credential."
_NULL_DEFAULT = re.compile(r'"\$\{parameters\.(\w+):-null\}"')
_TO_STRING = re.compile(r"\$\{parameters\.([\w.]+)\.toString\(\)\}")
_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f"}
_JSON_ESCAPES.update({"\n": "\\n", "\r": "\\r", "\t": "\\t"})
_SENSITIVE_HEADERS = frozenset(
    "authorization proxy-authorization cookie x-api-key x-auth-token x-auth-header "
    "x-forwarded-for x-real-ip x-client-ip cf-connecting-ip true-client-ip x-originating-ip "
    "host x-forwarded-host x-forwarded-server forwarded".split()
)


def stringify_parameters(params: dict[str, Any]) -> dict[str, str | None]:
    """Coerce a parameters object to strings: non-strings become compact JSON (Gson style)."""
    return {key: _to_text(value) for key, value in params.items()}


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def escape_json(text: str) -> str:
    """Escape like commons-text escapeJson: quotes, \\, /, controls, non-ASCII as \\uXXXX."""
    # Both paths run at C speed: a per-character Python loop took 1.4 s per 10 MB of prompt
    # (12 s for CJK text), all of it on the node's event loop.
    if text.isascii() and text.isprintable():
        return json.dumps(text)[1:-1].replace("/", "\\/")
    return text.translate(_ESCAPES)


class _EscapeTable(dict[int, str]):
    """A str.translate table for escape_json, filled as characters are met."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if char in _JSON_ESCAPES:
            escaped = _JSON_ESCAPES[char]
        elif " " <= char <= "~":
            escaped = char
        else:
            escaped = _unicode_escape(char)
        if len(self) < _ESCAPES_KEPT:  # bounded: all-distinct characters cannot grow it
            self[code] = escaped
        return escaped


_ESCAPES_KEPT = 16_384
_ESCAPES = _EscapeTable()


def _unicode_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}"


def is_json_container(text: str) -> bool:
    """True when text parses as a JSON object or array (spliced raw, not escaped)."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return False
    try:
        json.loads(stripped)
    except (ValueError, RecursionError):  # nesting too deep for the parser is not JSON here
        return False
    return True


def escape_request_parameters(params: dict[str, str | None]) -> dict[str, str | None]:
    """Escape request parameters for quoted template slots; JSON containers pass raw."""
    raw_keys = {k.strip() for k in (params.get("no_escape_params") or "").split(",") if k}
    return {
        key: value
        if value is None or key in raw_keys or is_json_container(value)
        else escape_json(value)
        for key, value in params.items()
    }


def substitute(template: str, values: dict[str, str | None], prefix: str = PARAMS) -> str:
    """Replace ${prefix key} / ${prefix key:-default}, recursively; unknown keys stay verbatim."""
    return _substitute(template, values, prefix, ())


def _substitute(
    template: str, values: dict[str, str | None], prefix: str, seen: tuple[str, ...]
) -> str:
    out: list[str] = []
    size = pos = 0
    while (start := template.find(prefix, pos)) >= 0:
        end = template.find("}", start + len(prefix))
        if end < 0:
            break
        if start > 0 and template[start - 1] == "$":  # $${...} is an escaped literal
            piece = template[pos : start - 1] + template[start : end + 1]
        else:
            piece = template[pos:start] + _resolve(template[start : end + 1], values, prefix, seen)
        # Counted as the text grows: a template repeating a large value must fail before
        # it is built, not after.
        size += len(piece)
        if size > MAX_FILLED_CHARS:
            raise IllegalArgumentError(TOO_LARGE)
        out.append(piece)
        pos = end + 1
    out.append(template[pos:])
    return "".join(out)


def _resolve(
    placeholder: str, values: dict[str, str | None], prefix: str, seen: tuple[str, ...]
) -> str:
    name, has_default, default = placeholder[len(prefix) : -1].partition(":-")
    value = values.get(name)
    if value is None:
        if not has_default:
            return placeholder
        value = default
    if name in seen:
        raise IllegalArgumentError(f"Infinite loop in property interpolation of {placeholder}")
    if len(seen) >= MAX_DEPTH:
        raise IllegalArgumentError(f"Parameter substitution nested deeper than {MAX_DEPTH} levels")
    return _substitute(value, values, prefix, (*seen, name))


def _add_to_string_parameters(values: dict[str, str | None], template: str) -> None:
    # ML Commons looks for ${parameters.X.toString()} in parameter values; the template is
    # scanned as well so the same placeholder works when written there directly.
    texts = [template, *(v for v in values.values() if v)]
    for name in {n for text in texts for n in _TO_STRING.findall(text)}:
        value = values.get(name)
        if value is not None:
            values[name + ".toString()"] = json.dumps(value, ensure_ascii=False)[1:-1]


def render_body(template: str | None, params: dict[str, str | None]) -> str | None:
    """Fill the request_body template; raise IllegalArgumentError on leftovers or bad JSON."""
    if template is None:
        return params.get("http_body")
    values = dict(params)
    _add_to_string_parameters(values, template)
    filled = _NULL_DEFAULT.sub(
        lambda m: m.group(0) if values.get(m.group(1)) is not None else "null", template
    )
    filled = substitute(filled, values)
    if not _is_json_or_ndjson(filled):
        raise IllegalArgumentError(f"Invalid payload: {filled}")
    if params.get("skip_validating_missing_parameters") != "true":
        names = leftover_parameters(filled)
        if names:
            raise IllegalArgumentError(f"Some parameter placeholder not filled in payload: {names}")
    return filled


def leftover_parameters(text: str) -> str:
    """Name the ${parameters.x} placeholders left in text, in order, comma-joined."""
    # A scan, not a regex: with many "${parameters." and no "}" after them, a regex retries
    # from each one to the end of the text (quadratic in a request's own parameters).
    names: list[str] = []
    pos = 0
    while (start := text.find(PARAMS, pos)) >= 0:
        end = text.find("}", start + len(PARAMS))
        if end < 0:
            break
        names.append(text[start + len(PARAMS) : end])
        pos = end + 1
    return ", ".join(dict.fromkeys(names))


def _is_json_or_ndjson(payload: str) -> bool:
    lines = [line for line in payload.splitlines() if line.strip()] or [payload]
    for candidate in (payload, *lines):
        try:
            json.loads(candidate)
        except (ValueError, RecursionError):
            if candidate is payload and len(lines) > 1:
                continue
            return False
        if candidate is payload:
            return True
    return True


def render_url(template: str, params: dict[str, str | None], credential: dict[str, str]) -> str:
    """Fill the action URL from raw (unescaped) parameters and credentials."""
    return substitute(substitute(template, dict(credential), CREDS), params)


def render_headers(
    headers: dict[str, str], params: dict[str, str | None], credential: dict[str, str]
) -> dict[str, str]:
    """Fill header templates: credentials first, then parameters; leftovers are an error."""
    filled: dict[str, str] = {}
    for name, template in headers.items():
        value = substitute(substitute(template, dict(credential), CREDS), params)
        if PARAMS in value or CREDS in value:
            raise IllegalArgumentError(
                f"Header '{name}' contains unresolved placeholder. Required parameter is missing."
            )
        check_header_value(value)
        filled[name] = value
    return filled


def check_header_templates(headers: dict[str, str]) -> None:
    """Refuse ${parameters.*} in headers that carry identity or routing (ML Commons 3.7 rule)."""
    for name, template in headers.items():
        if PARAMS in template and name.lower() in _SENSITIVE_HEADERS:
            raise IllegalArgumentError(
                f"Header '{name}' cannot use ${{parameters.*}} placeholders for security reasons. "
                "Use ${credential.*} instead."
            )


def fill_credentials(template: str, credential: dict[str, str]) -> str:
    """Replace ${credential.x} in a body template (values spliced as JSON-escaped text)."""
    escaped: dict[str, str | None] = {k: escape_json(v) for k, v in credential.items()}
    return substitute(template, escaped, CREDS)

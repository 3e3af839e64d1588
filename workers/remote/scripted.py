"""Shape a remote answer with a Painless post_process_function, as ML Commons does.

The script sees the answer parsed the way Gson parses it for ML Commons (an object as is, an
array as {"result": [...]}, every number a double) and returns a String. JSON it returns is
read as one model tensor (an object) or several (an array); other text becomes
{"response": text}; null leaves the answer to the usual shaping.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import msgspec

from common import painless
from common.errors import IllegalArgumentError, RemoteModelError
from common.json_depth import MAX_DEPTH, nesting_depth
from common.painless.values import Rope
from workers.remote.jsonpath import MISSING

DATA_TYPES = frozenset(
    "FLOAT32 FLOAT64 FLOAT16 INT64 INT32 INT16 INT8 UINT8 BOOLEAN STRING UNKNOWN "
    "BINARY UBINARY".split()
)


def script_params(body: str) -> dict[str, Any]:
    """The answer as the script's params: Gson's Map, numbers as doubles."""
    try:
        value = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        raise IllegalArgumentError("Unsupported response type") from None
    if body.count("[") + body.count("{") > MAX_DEPTH and nesting_depth(value) > MAX_DEPTH:
        raise RemoteModelError(
            f"Remote service response nests deeper than {MAX_DEPTH} levels", status=502
        )
    if isinstance(value, dict):
        _as_doubles(value)
        return value
    if isinstance(value, list):
        _as_doubles(value)
        return {"result": value}
    raise IllegalArgumentError("Unsupported response type")


def _as_doubles(value: dict[str, Any] | list[Any]) -> None:
    """Turn every integer into a double, in place, as Gson reads JSON numbers."""
    if type(value) is dict:
        for key, item in value.items():
            kind = type(item)
            if kind is int:
                value[key] = float(item)
            elif kind is dict or kind is list:
                _as_doubles(item)
        return
    assert type(value) is list
    kinds = set(map(type, value))  # a list of doubles is checked at C speed
    if int in kinds:
        value[:] = [float(x) if type(x) is int else x for x in value]
    if dict in kinds or list in kinds:
        for item in value:
            if type(item) is dict or type(item) is list:
                _as_doubles(item)


def run_post_process(script: painless.Script, body: str) -> str | Rope | None:
    """Run the script on the answer; its String (maybe a Rope), or None for null."""
    return script.run_value(script_params(body))


def tensors_or_text(text: str | Rope) -> list[dict[str, Any]] | None:
    """Model tensors from the script's JSON text, or None when the text is not JSON."""
    value = rope_json(text) if type(text) is Rope else MISSING
    if value is MISSING:
        stripped = as_text(text).strip()
        if stripped[:1] not in ("{", "["):
            return None
        value = _lenient_json(stripped)
        if value is MISSING:
            return None
    items = value if isinstance(value, list) else [value]
    return [_tensor(item) for item in items]


def _lenient_json(text: str) -> Any:
    """JSON, also with raw control characters in strings (escape() leaves tabs as they are,
    and ML Commons' first JSON check accepts them); MISSING when it is not JSON."""
    try:
        return msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError):
        pass
    try:
        return json.loads(text, strict=False, parse_constant=_not_a_number)
    except (ValueError, RecursionError):
        return MISSING


def _not_a_number(name: str) -> Any:
    raise ValueError(name)


def as_text(text: str | Rope) -> str:
    """The characters of a script's String."""
    return text.text() if isinstance(text, Rope) else text


def rope_json(rope: Rope) -> Any:
    """Parse a Rope without printing its lists: each list stands in as a marker string.

    Exactly what parsing the printed text gives, or MISSING (then the text is printed and
    parsed): a marker is unguessable, and must come back as a whole value, once, and
    nowhere else (in a key, inside another string), which is the case exactly when the
    printed list stood as a JSON value in valid JSON.
    """
    token = secrets.token_hex(8)
    nonce = "\\u0000" + token  # NUL then a random token: no answer can spell it
    lists: list[list[float]] = []
    pieces = []
    for part in rope.parts:
        if type(part) is str:
            pieces.append(part)
        else:
            pieces.append(f'"{nonce}{len(lists)}"')
            lists.append(part)  # type: ignore[arg-type]
    skeleton = "".join(pieces)
    if not lists or skeleton.lstrip()[:1] not in ("{", "["):
        return MISSING
    try:
        value = msgspec.json.decode(skeleton)
    except (msgspec.DecodeError, RecursionError):
        return MISSING
    marker = "\x00" + token
    placed: list[int] = []
    value = _place(value, marker, lists, placed)
    return value if sorted(placed) == list(range(len(lists))) else MISSING


def _place(value: Any, marker: str, lists: list[list[float]], placed: list[int]) -> Any:
    """value with each marker string replaced by its list; a misplaced marker spoils it."""
    kind = type(value)
    if kind is str:
        if marker in value:
            tail = value[len(marker) :]
            if value.startswith(marker) and tail.isdigit() and int(tail) < len(lists):
                placed.append(int(tail))
                return lists[int(tail)]
            placed.append(-1)
        return value
    if kind is list:
        return [_place(item, marker, lists, placed) for item in value]
    if kind is dict:
        if any(marker in key for key in value):
            placed.append(-1)
        return {key: _place(item, marker, lists, placed) for key, item in value.items()}
    return value


def _tensor(item: Any) -> dict[str, Any]:
    """One ModelTensor from its JSON: known fields in ML Commons' order, others skipped."""
    if not isinstance(item, dict):
        raise _invalid("expected a JSON object")
    tensor: dict[str, Any] = {}
    if item.get("name") is not None:
        name = item["name"]
        tensor["name"] = name if isinstance(name, str) else json.dumps(name)
    data_type = item.get("data_type")
    if data_type is not None:
        if data_type not in DATA_TYPES:
            raise _invalid(f"data_type {data_type}")
        tensor["data_type"] = data_type
    if item.get("shape") is not None:
        tensor["shape"] = [int(n) for n in _numbers(item["shape"], "shape")]
    data = item.get("data")
    if data_type is not None and isinstance(data, list) and data:
        tensor["data"] = _numbers(data, "data")
    if isinstance(item.get("byte_buffer"), dict):
        tensor["byte_buffer"] = item["byte_buffer"]
    if item.get("result") is not None:
        tensor["result"] = (
            item["result"] if isinstance(item["result"], str) else str(item["result"])
        )
    if isinstance(item.get("dataAsMap"), dict):
        tensor["dataAsMap"] = item["dataAsMap"]
    return tensor


def _numbers(value: Any, field: str) -> list[Any]:
    # Types checked at C speed: a tensor's data is often thousands of doubles.
    if not isinstance(value, list) or not set(map(type, value)) <= _NUMBER_TYPES:
        raise _invalid(f"{field} must be a list of numbers")
    return value


_NUMBER_TYPES = {int, float}


def _invalid(problem: str) -> IllegalArgumentError:
    return IllegalArgumentError(f"Invalid model tensor in post_process_function output: {problem}")

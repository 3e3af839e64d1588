"""Java's value semantics as Painless shows them: printing, int/long/double arithmetic, ==.

Values are plain Python objects: None (null), bool, int (Java int, 32-bit), JLong (long),
float (double), str (String), list (List and arrays), dict (Map) and StringBuilder.
"""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec

MAX_TEXT = 64 * 1024 * 1024  # characters a script may build in one string (memory bound)
MAX_ITEMS = 4_000_000  # elements a script may put in one list or array by a bulk operation


class Fault(Exception):
    """A script failed: the reason; the innermost statement that ran sets the line."""

    line: int = 0


class JLong(int):
    """A Java long: kept apart from int so int arithmetic can wrap at 32 bits."""

    __slots__ = ()


# A list of at least this many doubles joins a string unprinted (see Rope).
DEFER_LIST = 32
# The most characters Java writes for one double in a list, with its ", ".
_DOUBLE_CHARS = 26

Part = str | list[float]


class Rope:
    """A String made by concatenation that still holds large lists of doubles unprinted.

    `"{\"data\":" + params.embedding + "}"` is the heart of most post-process scripts: the
    answer's vector printed into JSON text that is parsed right back. A Rope keeps the
    vector itself; the text is made only when something reads it, and the shaping of a
    script's result can parse around the vector (workers/remote/scripted.py).
    """

    __slots__ = ("parts", "size")

    def __init__(self, parts: list[Part], size: int) -> None:
        if size > MAX_TEXT:
            raise Fault(f"A string longer than {MAX_TEXT} characters was built")
        self.parts = parts
        self.size = size  # an upper bound of the text's length

    def text(self) -> str:
        """The String's characters (made once, then kept)."""
        if len(self.parts) != 1 or type(self.parts[0]) is not str:
            text = "".join(_part_text(p) for p in self.parts)
            self.parts, self.size = [text], len(text)
        return self.parts[0]  # type: ignore[return-value]

    def __eq__(self, other: object) -> bool:
        if type(other) is Rope:
            return self.text() == other.text()
        return type(other) is str and self.text() == other

    def __hash__(self) -> int:
        return hash(self.text())


def _part_text(part: Part) -> str:
    return part if isinstance(part, str) else _list_text(part)


def _deferrable(value: Any) -> bool:
    """A long list of finite doubles, whose Java text parses back to the same list."""
    return (
        type(value) is list
        and len(value) >= DEFER_LIST
        and set(map(type, value)) == _DOUBLES
        and math.isfinite(sum(value))
    )


def _parts(value: Any) -> tuple[list[Part], int]:
    kind = type(value)
    if kind is Rope:
        return list(value.parts), value.size
    if kind is StringBuilder and value.deferred:
        return list(value.parts), value.size
    if kind is list and _deferrable(value):
        # A copy: Java prints the list now, so a later change to it must not show.
        return [list(value)], len(value) * _DOUBLE_CHARS + 2
    text = to_string(value)
    return [text], len(text)


class StringBuilder:
    """java.lang.StringBuilder: appends are collected and joined when read."""

    __slots__ = ("parts", "size", "deferred")

    def __init__(self, text: str = "") -> None:
        self.parts: list[Part] = [text] if text else []
        self.size = len(text)
        self.deferred = False  # some parts are lists of doubles not printed yet

    def append(self, value: Any) -> StringBuilder:
        kind = type(value)
        if kind is str:
            parts, size = [value], len(value)
        else:
            parts, size = _parts(value)
            self.deferred = self.deferred or any(type(p) is list for p in parts)
        self.size += size
        if self.size > MAX_TEXT:
            raise Fault(f"A string longer than {MAX_TEXT} characters was built")
        self.parts.extend(parts)
        return self

    def text(self) -> str:
        """The characters appended so far."""
        if self.deferred or len(self.parts) > 1:
            joined = "".join(_part_text(p) for p in self.parts)
            self.parts, self.size, self.deferred = [joined], len(joined), False
        return self.parts[0] if self.parts else ""  # type: ignore[return-value]

    def value(self) -> str | Rope:
        """toString(): a Rope while long lists are still unprinted."""
        if self.deferred:
            return Rope(list(self.parts), self.size)
        return self.text()


def wrap_int(value: int) -> int:
    """Wrap to a 32-bit two's complement int, as Java int arithmetic does."""
    return ((value + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def wrap_long(value: int) -> JLong:
    """Wrap to a 64-bit two's complement long."""
    return JLong(((value + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000)


def double_text(value: float) -> str:
    """Java's Double.toString: shortest digits, scientific below 1e-3 and from 1e7."""
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        return repr(value)  # Python's repr is Java's here: shortest digits, ".0" kept
    mantissa, _, exponent = f"{value:.{_digits(value) - 1}e}".partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}E{int(exponent)}"


def _digits(value: float) -> int:
    """The count of significant digits in the shortest repr of value."""
    digits = repr(value).lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return max(len(digits.rstrip("0")), 1)


def type_name(value: Any) -> str:
    """The Java class name of a value, for error messages."""
    return _TYPE_NAMES.get(type(value), "java.lang.Object") if value is not None else "null"


_TYPE_NAMES: dict[type, str] = {
    bool: "java.lang.Boolean",
    int: "java.lang.Integer",
    JLong: "java.lang.Long",
    float: "java.lang.Double",
    str: "java.lang.String",
    list: "java.util.ArrayList",
    dict: "java.util.HashMap",
    StringBuilder: "java.lang.StringBuilder",
    Rope: "java.lang.String",
}


def to_string(value: Any) -> str:
    """String.valueOf(value): what string concatenation writes."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is float:
        return double_text(value)
    if kind is list:
        return _list_text(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is JLong:
        return str(int(value))
    if kind is dict:
        return "{" + ", ".join(f"{to_string(k)}={to_string(v)}" for k, v in value.items()) + "}"
    if kind is StringBuilder or kind is Rope:
        return value.text()  # type: ignore[no-any-return]
    raise Fault(f"Cannot convert {type_name(value)} to a string")


def _list_text(items: list[Any]) -> str:
    # Embeddings are lists of doubles: msgspec writes them with shortest digits at C speed
    # (repr() per element is ten times slower). Java differs in spacing and in the values it
    # writes in scientific notation (below 1e-3, from 1e7), found by C-speed scans.
    if items and set(map(type, items)) == _DOUBLES:
        text = msgspec.json.encode(items).decode()
        if "null" not in text and -1e7 < min(items) and max(items) < 1e7:  # null: NaN, inf
            return _java_small_doubles(text).replace(",", ", ")
    return "[" + ", ".join(map(to_string, items)) + "]"


_DOUBLES = {float}
_EXPONENT = re.compile(r"e-?[0-9]+")
_SMALL = re.compile(r"0\.000[0-9]*")


def _java_small_doubles(text: str) -> str:
    """Rewrite msgspec's tokens below 1e-3 (0.0001, 1e-7) as Java writes them (1.0E-4)."""
    spans = []
    for match in _EXPONENT.finditer(text):
        at = match.start()
        spans.append((max(text.rfind(",", 0, at), text.rfind("[", 0, at)) + 1, match.end()))
    if "0.000" in text:
        for match in _SMALL.finditer(text):
            start, end = match.start(), match.end()
            start -= text[start - 1] == "-"
            if text[start - 1] in "[," and text[end] != "e":  # a whole token, not its tail
                spans.append((start, end))
    if not spans:
        return text
    pieces, done = [], 0
    for start, end in sorted(spans):
        pieces.append(text[done:start])
        pieces.append(_scientific(text[start:end]))
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


def _scientific(token: str) -> str:
    """A msgspec token below 1e-3 in Java's form, by moving digits: 0.00012 -> 1.2E-4."""
    sign = "-" if token[0] == "-" else ""
    body = token.lstrip("-")
    if "e" in body:
        mantissa, _, exponent = body.partition("e")
        whole, _, fraction = mantissa.partition(".")
        digits, power = whole + fraction, int(exponent) + len(whole) - 1
    else:
        fraction = body.partition(".")[2]
        digits = fraction.lstrip("0")
        power = len(digits) - len(fraction) - 1
    digits = digits.lstrip("0").rstrip("0") or "0"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{power}"


def concat(left: Any, right: Any) -> str | Rope:
    """Java string concatenation, bounded in size; long lists of doubles stay unprinted."""
    lt, rt = type(left), type(right)
    if (
        lt is Rope
        or rt is Rope
        or (lt is list and _deferrable(left))
        or (rt is list and _deferrable(right))
    ):
        parts, size = _parts(left)
        more, extra = _parts(right)
        return Rope(parts + more, size + extra)
    text = to_string(left) + to_string(right)
    if len(text) > MAX_TEXT:
        raise Fault(f"A string longer than {MAX_TEXT} characters was built")
    return text


def is_number(value: Any) -> bool:
    kind = type(value)
    return kind is int or kind is float or kind is JLong


def arithmetic(op: str, left: Any, right: Any) -> Any:
    """Apply + - * / % with Java's promotion: int, then long, then double."""
    lt, rt = type(left), type(right)
    if lt is int and rt is int:
        return _int_op(op, left, right, wrap_int)
    if op == "+" and (lt is str or rt is str or lt is Rope or rt is Rope):
        return concat(left, right)
    if not (is_number(left) and is_number(right)):
        raise Fault(f"Cannot apply [{op}] to types [{type_name(left)}] and [{type_name(right)}]")
    if lt is float or rt is float:
        return _double_op(op, float(left), float(right))
    return _int_op(op, int(left), int(right), wrap_long)


def _int_op(op: str, a: int, b: int, wrap: Any) -> Any:
    if op == "+":
        return wrap(a + b)
    if op == "-":
        return wrap(a - b)
    if op == "*":
        return wrap(a * b)
    if b == 0:
        raise Fault("/ by zero")
    quotient = abs(a) // abs(b)
    if op == "/":
        return wrap(quotient if (a < 0) == (b < 0) else -quotient)
    return wrap(a - b * (quotient if (a < 0) == (b < 0) else -quotient))


def _double_op(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            if a == 0 or a != a:
                return math.nan
            return math.copysign(math.inf, a) * math.copysign(1.0, b)
        return a / b
    if b == 0 or math.isinf(a):
        return math.nan
    return math.fmod(a, b)


def bitwise(op: str, left: Any, right: Any) -> Any:
    """Apply & | ^ << >> >>> to ints and longs (& | ^ also to booleans)."""
    if type(left) is bool and type(right) is bool and op in "&|^":
        return _logical(op, left, right)
    lt, rt = type(left), type(right)
    if lt not in (int, JLong) or rt not in (int, JLong):
        raise Fault(f"Cannot apply [{op}] to types [{type_name(left)}] and [{type_name(right)}]")
    is_long = lt is JLong
    wrap: Any = wrap_long if is_long or (op in "&|^" and rt is JLong) else wrap_int
    bits = 64 if wrap is wrap_long else 32
    a, b = int(left), int(right)
    if op == "&":
        return wrap(a & b)
    if op == "|":
        return wrap(a | b)
    if op == "^":
        return wrap(a ^ b)
    shift = b & (bits - 1)
    if op == "<<":
        return wrap(a << shift)
    if op == ">>":
        return wrap(a >> shift)
    return wrap((a & ((1 << bits) - 1)) >> shift)


def _logical(op: str, left: bool, right: bool) -> bool:
    if op == "&":
        return left and right
    if op == "|":
        return left or right
    return left != right


def compare(op: str, left: Any, right: Any) -> bool:
    """Apply < <= > >= to numbers."""
    if not (is_number(left) and is_number(right)):
        raise Fault(f"Cannot apply [{op}] to types [{type_name(left)}] and [{type_name(right)}]")
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def equals(left: Any, right: Any) -> bool:
    """Painless ==: numbers by value after promotion, anything else by equals()."""
    if left is None or right is None:
        return left is right
    if (type(left) is bool) != (type(right) is bool):
        return False
    if type(left) is StringBuilder or type(right) is StringBuilder:
        return left is right
    return bool(left == right)


def identical(left: Any, right: Any) -> bool:
    """Painless ===: the same object; values of primitive types compare by value."""
    if isinstance(left, list | dict | StringBuilder):
        return left is right
    return equals(left, right)


def truth(value: Any) -> bool:
    """A condition's value: Painless accepts only booleans."""
    if value is True or value is False:
        return value
    raise Fault(f"Cannot cast {type_name(value)} to boolean")


def negate(value: Any) -> Any:
    kind = type(value)
    if kind is int:
        return wrap_int(-value)
    if kind is float:
        return -value
    if kind is JLong:
        return wrap_long(-value)
    raise Fault(f"Cannot apply [-] to type [{type_name(value)}]")


def plus(value: Any) -> Any:
    if not is_number(value):
        raise Fault(f"Cannot apply [+] to type [{type_name(value)}]")
    return value


def bit_not(value: Any) -> Any:
    kind = type(value)
    if kind is int:
        return ~value
    if kind is JLong:
        return JLong(~int(value))
    raise Fault(f"Cannot apply [~] to type [{type_name(value)}]")


def to_int(value: Any, wrap: Any = wrap_int) -> Any:
    """An explicit (int) or (long) cast."""
    if type(value) is float:
        if value != value:
            return wrap(0)
        limit = 2**31 if wrap is wrap_int else 2**63
        return wrap(max(-limit, min(limit - 1, int(value))))
    if is_number(value):
        return wrap(int(value))
    raise Fault(f"Cannot cast {type_name(value)} to {'int' if wrap is wrap_int else 'long'}")


def to_double(value: Any) -> float:
    if is_number(value):
        return float(value)
    raise Fault(f"Cannot cast {type_name(value)} to double")

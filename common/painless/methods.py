"""The whitelist: the methods, fields, static methods and constructors a script may use.

Nothing else of a value is reachable: calls are looked up in these tables by the receiver's
type and the method's name and argument count, never by Python attribute access.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from common.painless.values import (
    MAX_ITEMS,
    MAX_TEXT,
    Fault,
    JLong,
    Rope,
    StringBuilder,
    equals,
    is_number,
    to_double,
    to_int,
    to_string,
    type_name,
    wrap_long,
)

Method = Callable[..., Any]


def _index(value: Any, size: int, *, inclusive: bool = False) -> int:
    if type(value) is not int:
        raise Fault(f"Cannot cast {type_name(value)} to int")
    if value < 0 or value > size or (value == size and not inclusive):
        raise Fault(f"Index {value} out of bounds for length {size}")
    return value


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) is Rope:
        return value.text()
    raise Fault(f"Cannot cast {type_name(value)} to java.lang.String")


def _substring(s: str, begin: Any, end: Any = None) -> str:
    stop = len(s) if end is None else _index(end, len(s), inclusive=True)
    start = _index(begin, len(s), inclusive=True)
    if start > stop:
        raise Fault(f"begin {start}, end {stop}, length {len(s)}")
    return s[start:stop]


def _index_of(s: str, what: Any, start: Any = 0) -> int:
    return s.find(_text(what), max(int(start), 0))


def _last_index_of(s: str, what: Any) -> int:
    return s.rfind(_text(what))


def _replace(s: str, old: Any, new: Any) -> str:
    return _bounded(s.replace(_text(old), to_string(new) if new is not None else _text(new)))


def _bounded(text: str) -> str:
    if len(text) > MAX_TEXT:
        raise Fault(f"A string longer than {MAX_TEXT} characters was built")
    return text


def _char_at(s: str, i: Any) -> str:
    return s[_index(i, len(s))]


def _split(s: str, sep: Any) -> list[str]:
    # Painless' whitelisted splitOnToken: a literal token, not a regular expression.
    parts = s.split(_text(sep))
    while parts and parts[-1] == "":
        parts.pop()
    return parts or [""]


def _list_get(items: list[Any], i: Any) -> Any:
    return items[_index(i, len(items))]


def _list_set(items: list[Any], i: Any, value: Any) -> Any:
    old = items[_index(i, len(items))]
    items[i] = value
    return old


def _list_add(items: list[Any], *args: Any) -> Any:
    if len(args) == 1:
        items.append(args[0])
        return True
    items.insert(_index(args[0], len(items), inclusive=True), args[1])
    return None


def _list_add_all(items: list[Any], more: Any) -> bool:
    if type(more) is not list:
        raise Fault(f"Cannot cast {type_name(more)} to java.util.Collection")
    if len(items) + len(more) > MAX_ITEMS:
        raise Fault(f"A list longer than {MAX_ITEMS} elements was built")
    items.extend(more)
    return bool(more)


def _list_remove(items: list[Any], i: Any) -> Any:
    return items.pop(_index(i, len(items)))


def _list_index_of(items: list[Any], value: Any) -> int:
    return next((i for i, x in enumerate(items) if equals(x, value)), -1)


def _list_contains(items: list[Any], value: Any) -> bool:
    return any(equals(x, value) for x in items)


def _sub_list(items: list[Any], start: Any, stop: Any) -> list[Any]:
    end = _index(stop, len(items), inclusive=True)
    begin = _index(start, len(items), inclusive=True)
    if begin > end:
        raise Fault(f"fromIndex({begin}) > toIndex({end})")
    return items[begin:end]


def _map_put(m: dict[Any, Any], key: Any, value: Any) -> Any:
    old = m.get(key)
    m[key] = value
    return old


def _map_put_all(m: dict[Any, Any], other: Any) -> None:
    if type(other) is not dict:
        raise Fault(f"Cannot cast {type_name(other)} to java.util.Map")
    m.update(other)


def _sb_insert(sb: StringBuilder, at: Any, value: Any) -> StringBuilder:
    text = sb.text()
    i = _index(at, len(text), inclusive=True)
    sb.parts = [text[:i] + to_string(value) + text[i:]]
    sb.size = len(sb.parts[0])
    return sb


def _sb_set_length(sb: StringBuilder, n: Any) -> None:
    text = sb.text()
    size = _index(n, MAX_TEXT, inclusive=True)
    sb.parts = [text[:size] + "\0" * max(0, size - len(text))]
    sb.size = size


def _number_method(convert: Callable[[Any], Any]) -> dict[type, Method]:
    return {int: convert, JLong: convert, float: convert}


_STR: dict[tuple[str, int], Method] = {
    ("length", 0): len,
    ("isEmpty", 0): lambda s: not s,
    ("substring", 1): _substring,
    ("substring", 2): _substring,
    ("indexOf", 1): _index_of,
    ("indexOf", 2): _index_of,
    ("lastIndexOf", 1): _last_index_of,
    ("replace", 2): _replace,
    ("contains", 1): lambda s, x: _text(x) in s,
    ("startsWith", 1): lambda s, x: s.startswith(_text(x)),
    ("endsWith", 1): lambda s, x: s.endswith(_text(x)),
    ("toLowerCase", 0): str.lower,
    ("toUpperCase", 0): str.upper,
    ("trim", 0): lambda s: s.strip("".join(map(chr, range(33)))),
    ("strip", 0): str.strip,
    ("equals", 1): lambda s, x: s == x,
    ("equalsIgnoreCase", 1): lambda s, x: type(x) is str and s.lower() == x.lower(),
    ("charAt", 1): _char_at,
    ("concat", 1): lambda s, x: _bounded(s + _text(x)),
    ("compareTo", 1): lambda s, x: (s > _text(x)) - (s < x),
    ("splitOnToken", 1): _split,
    ("toString", 0): lambda s: s,
}
_LIST: dict[tuple[str, int], Method] = {
    ("size", 0): len,
    ("isEmpty", 0): lambda items: not items,
    ("get", 1): _list_get,
    ("set", 2): _list_set,
    ("add", 1): _list_add,
    ("add", 2): _list_add,
    ("addAll", 1): _list_add_all,
    ("remove", 1): _list_remove,
    ("contains", 1): _list_contains,
    ("indexOf", 1): _list_index_of,
    ("clear", 0): list.clear,
    ("subList", 2): _sub_list,
    ("equals", 1): equals,
    ("toString", 0): to_string,
}
_MAP: dict[tuple[str, int], Method] = {
    ("size", 0): len,
    ("isEmpty", 0): lambda m: not m,
    ("get", 1): lambda m, k: m.get(k),
    ("getOrDefault", 2): lambda m, k, d: m.get(k, d),
    ("put", 2): _map_put,
    ("putAll", 1): _map_put_all,
    ("remove", 1): lambda m, k: m.pop(k, None),
    ("containsKey", 1): lambda m, k: k in m,
    ("containsValue", 1): lambda m, v: any(equals(x, v) for x in m.values()),
    ("keySet", 0): lambda m: list(m),
    ("values", 0): lambda m: list(m.values()),
    ("clear", 0): dict.clear,
    ("equals", 1): equals,
    ("toString", 0): to_string,
}
_BUILDER: dict[tuple[str, int], Method] = {
    ("append", 1): StringBuilder.append,
    ("toString", 0): StringBuilder.value,
    ("length", 0): lambda sb: len(sb.text()),
    ("insert", 2): _sb_insert,
    ("setLength", 1): _sb_set_length,
    ("isEmpty", 0): lambda sb: not sb.text(),
}


# A Rope is a String whose characters are made when a method reads them.
def _on_text(method: Method) -> Method:
    return lambda rope, *args: method(rope.text(), *args)


_ROPE: dict[tuple[str, int], Method] = {key: _on_text(method) for key, method in _STR.items()}
_NUMBER: dict[tuple[str, int], Method] = {
    ("toString", 0): to_string,
    ("intValue", 0): to_int,
    ("longValue", 0): lambda x: to_int(x, wrap_long),
    ("doubleValue", 0): to_double,
    ("equals", 1): lambda x, y: type(x) is type(y) and x == y,
}
_BOOL: dict[tuple[str, int], Method] = {
    ("toString", 0): to_string,
    ("equals", 1): lambda x, y: x is y,
    ("booleanValue", 0): lambda x: x,
}

BY_TYPE: dict[type, dict[tuple[str, int], Method]] = {
    str: _STR,
    list: _LIST,
    dict: _MAP,
    StringBuilder: _BUILDER,
    Rope: _ROPE,
    int: _NUMBER,
    JLong: _NUMBER,
    float: _NUMBER,
    bool: _BOOL,
}


def method_table(name: str, argc: int) -> dict[type, Method] | None:
    """Return type -> implementation for a method, or None when no type has it."""
    table = {
        kind: methods[(name, argc)] for kind, methods in BY_TYPE.items() if (name, argc) in methods
    }
    return table or None


def _parse_int(text: Any) -> int:
    # Java's digits only: Python's int() would also take spaces and underscores.
    if _INTEGER.fullmatch(_text(text)) is None:
        raise Fault(f'For input string: "{text}"')
    value = int(text)
    if not -(2**31) <= value < 2**31:
        raise Fault(f'For input string: "{text}"')
    return value


_INTEGER = re.compile(r"[+-]?[0-9]+")


def _parse_double(text: Any) -> float:
    try:
        return float(_text(text).strip().rstrip("dDfF"))
    except ValueError:
        raise Fault(f'For input string: "{text}"') from None


def _math(fn: Callable[..., Any]) -> Method:
    def apply(*args: Any) -> Any:
        for arg in args:
            if not is_number(arg):
                raise Fault(f"Cannot cast {type_name(arg)} to double")
        try:
            return fn(*[float(a) for a in args])
        except (ValueError, OverflowError):
            return math.nan

    return apply


def _max(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        return max(a, b)
    return _math(max)(a, b)


def _min(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        return min(a, b)
    return _math(min)(a, b)


def _abs(a: Any) -> Any:
    if type(a) is int:
        return abs(a) if a != -(2**31) else a  # Java: abs(MIN_VALUE) is MIN_VALUE
    return _math(abs)(a)


def _round(a: Any) -> Any:
    if not is_number(a):
        raise Fault(f"Cannot cast {type_name(a)} to double")
    return wrap_long(math.floor(float(a) + 0.5)) if math.isfinite(a) else JLong(0)


def _join(sep: Any, items: Any) -> str:
    if type(items) is not list:
        raise Fault(f"Cannot cast {type_name(items)} to java.lang.Iterable")
    return _text(sep).join(to_string(x) for x in items)


STATIC: dict[tuple[str, str, int], Method] = {
    ("String", "valueOf", 1): to_string,
    ("String", "join", 2): _join,
    ("Integer", "parseInt", 1): _parse_int,
    ("Integer", "valueOf", 1): lambda x: _parse_int(x) if type(x) is str else to_int(x),
    ("Integer", "toString", 1): to_string,
    ("Long", "parseLong", 1): lambda x: JLong(_parse_int(x)),
    ("Double", "parseDouble", 1): _parse_double,
    ("Double", "valueOf", 1): lambda x: _parse_double(x) if type(x) is str else to_double(x),
    ("Double", "toString", 1): to_string,
    ("Boolean", "parseBoolean", 1): lambda x: type(x) is str and x.lower() == "true",
    ("Math", "max", 2): _max,
    ("Math", "min", 2): _min,
    ("Math", "abs", 1): _abs,
    ("Math", "round", 1): _round,
    ("Math", "pow", 2): _math(math.pow),
    ("Math", "sqrt", 1): _math(math.sqrt),
    ("Math", "floor", 1): _math(lambda x: float(math.floor(x)) if math.isfinite(x) else x),
    ("Math", "ceil", 1): _math(lambda x: float(math.ceil(x)) if math.isfinite(x) else x),
    ("Math", "exp", 1): _math(math.exp),
    ("Math", "log", 1): _math(math.log),
    ("Math", "log10", 1): _math(math.log10),
    ("Math", "sin", 1): _math(math.sin),
    ("Math", "cos", 1): _math(math.cos),
    ("Math", "tan", 1): _math(math.tan),
    ("Math", "signum", 1): _math(lambda x: math.copysign(1.0, x) if x else x),
}

STATIC_FIELDS: dict[tuple[str, str], Any] = {
    ("Integer", "MAX_VALUE"): 2**31 - 1,
    ("Integer", "MIN_VALUE"): -(2**31),
    ("Long", "MAX_VALUE"): JLong(2**63 - 1),
    ("Long", "MIN_VALUE"): JLong(-(2**63)),
    ("Math", "PI"): math.pi,
    ("Math", "E"): math.e,
}


def _new_list(*args: Any) -> list[Any]:
    if not args or type(args[0]) is int:
        return []
    if type(args[0]) is list:
        return list(args[0])
    raise Fault(f"Cannot cast {type_name(args[0])} to java.util.Collection")


def _new_map(*args: Any) -> dict[Any, Any]:
    if not args:
        return {}
    if type(args[0]) is dict:
        return dict(args[0])
    raise Fault(f"Cannot cast {type_name(args[0])} to java.util.Map")


def _new_builder(*args: Any) -> StringBuilder:
    if not args or type(args[0]) is int:
        return StringBuilder()
    return StringBuilder(_text(args[0]))


CONSTRUCTORS: dict[tuple[str, int], Method] = {
    ("ArrayList", 0): _new_list,
    ("ArrayList", 1): _new_list,
    ("HashMap", 0): _new_map,
    ("HashMap", 1): _new_map,
    ("LinkedHashMap", 0): _new_map,
    ("LinkedHashMap", 1): _new_map,
    ("TreeMap", 0): _new_map,
    ("StringBuilder", 0): _new_builder,
    ("StringBuilder", 1): _new_builder,
}

# Zero values of new T[n] arrays.
ARRAY_ZERO: dict[str, Any] = {
    "int": 0,
    "long": JLong(0),
    "short": 0,
    "byte": 0,
    "double": 0.0,
    "float": 0.0,
    "boolean": False,
}


def field(value: Any, name: str) -> Any:
    """obj.name: a Map's key (null when absent), a List's or array's length."""
    kind = type(value)
    if kind is dict:
        return value.get(name)
    if kind is list:
        if name == "length":
            return len(value)
        if name == "empty":
            return not value
        if name.isdigit():
            return _list_get(value, int(name))
    if value is None:
        raise Fault(f"Cannot access field [{name}] of a null value")
    raise Fault(f"Unknown field [{name}] for type [{type_name(value)}]")


def set_field(value: Any, name: str, new: Any) -> None:
    """obj.name = new: only a Map's key can be set."""
    if type(value) is dict:
        value[name] = new
        return
    if value is None:
        raise Fault(f"Cannot set field [{name}] of a null value")
    raise Fault(f"Cannot set field [{name}] for type [{type_name(value)}]")


def get_index(value: Any, key: Any) -> Any:
    """obj[key]: a Map's value (null when absent), a List's element (negative from the end)."""
    kind = type(value)
    if kind is dict:
        return value.get(key)
    if kind is list:
        if type(key) is not int:
            raise Fault(f"Cannot cast {type_name(key)} to int")
        size = len(value)
        if -size <= key < size:
            return value[key]
        raise Fault(f"Index {key} out of bounds for length {size}")
    if value is None:
        raise Fault("Cannot index a null value")
    raise Fault(f"Cannot index type [{type_name(value)}]")


def set_index(value: Any, key: Any, new: Any) -> None:
    """obj[key] = new."""
    kind = type(value)
    if kind is dict:
        value[key] = new
        return
    if kind is list:
        get_index(value, key)
        value[key] = new
        return
    if value is None:
        raise Fault("Cannot index a null value")
    raise Fault(f"Cannot index type [{type_name(value)}]")

"""Painless' declared types: what storing a value in a typed local, a cast or instanceof does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.painless import values as jv
from common.painless.values import Fault


# Declared type -> conversion applied when a value is stored (None: any value, as def).
def _nullable(kind: type, java: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None or type(value) is kind:
            return value
        raise Fault(f"Cannot cast {jv.type_name(value)} to {java}")

    return convert


def _as_int(value: Any) -> Any:
    if type(value) is int:
        return value
    raise Fault(f"Cannot cast {jv.type_name(value)} to int")


def _as_long(value: Any) -> Any:
    if type(value) is int or type(value) is jv.JLong:
        return jv.JLong(value)
    raise Fault(f"Cannot cast {jv.type_name(value)} to long")


def _as_double(value: Any) -> Any:
    if jv.is_number(value):
        return float(value)
    raise Fault(f"Cannot cast {jv.type_name(value)} to double")


def _as_boolean(value: Any) -> Any:
    if value is True or value is False:
        return value
    raise Fault(f"Cannot cast {jv.type_name(value)} to boolean")


def _as_number(value: Any) -> Any:
    if value is None or jv.is_number(value):
        return value
    raise Fault(f"Cannot cast {jv.type_name(value)} to java.lang.Number")


def _as_string(value: Any) -> Any:
    if value is None or type(value) is str or type(value) is jv.Rope:
        return value
    raise Fault(f"Cannot cast {jv.type_name(value)} to java.lang.String")


STRING = _as_string
_LIST = _nullable(list, "java.util.List")
_MAP = _nullable(dict, "java.util.Map")
_BUILDER = _nullable(jv.StringBuilder, "java.lang.StringBuilder")
STORE: dict[str, Callable[[Any], Any] | None] = {
    "def": None,
    "Object": None,
    "String": STRING,
    "char": STRING,
    "Character": STRING,
    "int": _as_int,
    "short": _as_int,
    "byte": _as_int,
    "Integer": lambda v: v if v is None else _as_int(v),
    "Short": lambda v: v if v is None else _as_int(v),
    "Byte": lambda v: v if v is None else _as_int(v),
    "long": _as_long,
    "Long": lambda v: v if v is None else _as_long(v),
    "double": _as_double,
    "float": _as_double,  # float is kept as a double: scripts for connectors rarely use it
    "Double": lambda v: v if v is None else _as_double(v),
    "Float": lambda v: v if v is None else _as_double(v),
    "boolean": _as_boolean,
    "Boolean": lambda v: v if v is None else _as_boolean(v),
    "Number": _as_number,
    "List": _LIST,
    "ArrayList": _LIST,
    "Collection": _LIST,
    "Map": _MAP,
    "HashMap": _MAP,
    "LinkedHashMap": _MAP,
    "TreeMap": _MAP,
    "StringBuilder": _BUILDER,
}
# Compound assignment casts its result back to the variable's type, as Java does.
NARROW: dict[str, Callable[[Any], Any]] = {
    "int": jv.to_int,
    "short": jv.to_int,
    "byte": jv.to_int,
    "long": lambda v: jv.to_int(v, jv.wrap_long),
    "double": jv.to_double,
    "float": jv.to_double,
}
CASTS: dict[str, Callable[[Any], Any]] = {
    "int": jv.to_int,
    "short": jv.to_int,
    "byte": jv.to_int,
    "long": lambda v: jv.to_int(v, jv.wrap_long),
    "double": jv.to_double,
    "float": jv.to_double,
}
INSTANCE: dict[str, tuple[type, ...]] = {
    "String": (str, jv.Rope),
    "Integer": (int,),
    "Long": (jv.JLong,),
    "Double": (float,),
    "Float": (float,),
    "Boolean": (bool,),
    "Number": (int, jv.JLong, float),
    "List": (list,),
    "ArrayList": (list,),
    "Collection": (list,),
    "Map": (dict,),
    "HashMap": (dict,),
    "LinkedHashMap": (dict,),
    "TreeMap": (dict,),
    "StringBuilder": (jv.StringBuilder,),
    "Object": (object,),
    "def": (object,),
}

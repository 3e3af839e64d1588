"""The closures a compiled script is made of: statements, operators, calls, the budget.

A frame is a list: the run's Budget, the return value, then one slot per local variable.
A statement returns None, or BREAK, CONTINUE or RETURN (the value is in slot 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.painless import methods as lib
from common.painless import values as jv
from common.painless.types import NARROW, STORE
from common.painless.values import Fault

Frame = list[Any]
Expr = Callable[[Frame], Any]
Stmt = Callable[[Frame], Any]
BREAK, CONTINUE, RETURN = 1, 2, 3
FIRST_LOCAL = 2
STEP_CHUNK = 1024
MAX_DEPTH = 48
LONG_TEXT = 1 << 20  # concatenations at least this long have their size checked


class Budget:
    """What one run may still spend: loop iterations and calls, wall time, call depth."""

    __slots__ = ("left", "spent", "max_steps", "deadline", "max_seconds", "depth")

    def __init__(self, max_steps: int, max_seconds: float) -> None:
        self.left = STEP_CHUNK
        self.spent = 0
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.deadline = time.monotonic() + max_seconds
        self.depth = 0

    def refill(self) -> None:
        """Called every STEP_CHUNK steps: stop a script past its step or time budget."""
        self.spent += STEP_CHUNK
        if self.spent > self.max_steps:
            raise Fault(
                f"The script exceeded its budget of {self.max_steps} loop iterations and calls"
            )
        if time.monotonic() > self.deadline:
            raise Fault(f"The script ran longer than {self.max_seconds:g} seconds")
        self.left = STEP_CHUNK


def step(budget: Budget) -> None:
    """Count one loop iteration or call against the budget."""
    budget.left -= 1
    if budget.left <= 0:
        budget.refill()


@dataclass
class Local:
    """A variable: its frame slot and declared type."""

    slot: int
    type: str


@dataclass
class Function:
    """A user-defined method; its body is set once every signature is known."""

    name: str
    return_type: str
    params: list[Local]
    line: int
    size: int = FIRST_LOCAL
    body: Stmt | None = None


def at(stmt: Stmt, line: int) -> Stmt:
    """Name the line in a failure of this statement (the innermost statement names it)."""

    def run(f: Frame) -> Any:
        try:
            return stmt(f)
        except Fault as fault:
            fault.line = fault.line or line
            raise
        except (TypeError, ValueError, KeyError, IndexError, OverflowError) as error:
            problem = Fault(f"{type(error).__name__.replace('Error', '')} error: {error}")
            problem.line = line
            raise problem from None

    return run


def no_incdec(value: Any) -> Any:
    raise Fault(f"Cannot apply [++/--] to type [{jv.type_name(value)}]")


def sequence(stmts: list[Stmt]) -> Stmt:
    if not stmts:
        return lambda f: None
    if len(stmts) == 1:
        return stmts[0]
    if len(stmts) == 2:
        first, second = stmts

        def two(f: Frame) -> Any:
            return first(f) or second(f)

        return two

    def many(f: Frame) -> Any:
        for stmt in stmts:
            signal = stmt(f)
            if signal:
                return signal
        return None

    return many


def store(local: Local, init: Expr | None) -> Stmt:
    slot, convert = local.slot, STORE.get(local.type)
    if init is None:
        default = lib.ARRAY_ZERO.get(local.type)  # Java's zero of a primitive, else null

        def declare(f: Frame) -> None:
            f[slot] = default

        return declare
    if convert is None:

        def assign(f: Frame) -> None:
            f[slot] = init(f)

        return assign

    def assign_typed(f: Frame) -> None:
        f[slot] = convert(init(f))

    return assign_typed


def binary(op: str, left: Expr, right: Expr, lc: Any, rc: Any) -> Expr:
    if op == "+":
        return _plus(left, right, lc)
    if op in ("-", "*", "/", "%"):
        arithmetic = jv.arithmetic
        return lambda f: arithmetic(op, left(f), right(f))
    if op in ("<", "<=", ">", ">="):
        compare = jv.compare
        return lambda f: compare(op, left(f), right(f))
    if op in ("==", "!=", "===", "!=="):
        return _equality(op, left, right, rc)
    bitwise = jv.bitwise
    return lambda f: bitwise(op, left(f), right(f))


def _plus(left: Expr, right: Expr, lc: Any) -> Expr:
    concat, arithmetic = jv.concat, jv.arithmetic
    if type(lc) is str:  # "text" + x is always concatenation

        def prefix(f: Frame) -> Any:
            value = right(f)
            if type(value) is str and len(value) < LONG_TEXT:
                return lc + value
            return concat(lc, value)

        return prefix

    def add(f: Frame) -> Any:
        a, b = left(f), right(f)
        if type(a) is str:
            return concat(a, b)
        if type(a) is int and type(b) is int:
            total = a + b
            if -(2**31) <= total < 2**31:
                return total
        return arithmetic("+", a, b)

    return add


def _equality(op: str, left: Expr, right: Expr, rc: Any) -> Expr:
    if op in ("===", "!=="):
        identical, same = jv.identical, op == "==="
        return lambda f: identical(left(f), right(f)) is same
    equals, want = jv.equals, op == "=="
    if rc is None:
        return (lambda f: left(f) is None) if want else (lambda f: left(f) is not None)
    return lambda f: equals(left(f), right(f)) is want


def compound(op: str) -> Callable[[Any, Any], Any]:
    if op in ("+", "-", "*", "/", "%"):
        arithmetic = jv.arithmetic
        return lambda a, b: arithmetic(op, a, b)
    bitwise = jv.bitwise
    return lambda a, b: bitwise(op, a, b)


def assign_local(local: Local, combine: Any, value: Expr) -> Expr:
    slot = local.slot
    convert = STORE.get(local.type)
    if combine is None:
        if convert is None:

            def plain(f: Frame) -> Any:
                f[slot] = new = value(f)
                return new

            return plain

        def typed(f: Frame) -> Any:
            f[slot] = new = convert(value(f))
            return new

        return typed
    narrow = NARROW.get(local.type)

    def compound(f: Frame) -> Any:
        new = combine(f[slot], value(f))
        if narrow is not None:
            new = narrow(new)
        elif convert is not None:
            new = convert(new)
        f[slot] = new
        return new

    return compound


def assign_field(obj: Expr, key: str, combine: Any, value: Expr) -> Expr:
    get, put = lib.field, lib.set_field

    def run(f: Frame) -> Any:
        target = obj(f)
        new = value(f) if combine is None else combine(get(target, key), value(f))
        put(target, key, new)
        return new

    return run


def assign_index(obj: Expr, key: Expr, combine: Any, value: Expr) -> Expr:
    get, put = lib.get_index, lib.set_index

    def run(f: Frame) -> Any:
        target, k = obj(f), key(f)
        new = value(f) if combine is None else combine(get(target, k), value(f))
        put(target, k, new)
        return new

    return run


def method_call(
    name: str, table: dict[type, lib.Method], obj: Expr, args: list[Expr], safe: bool
) -> Expr:
    def missing(value: Any) -> Any:
        if value is None:
            if safe:
                return None
            raise Fault(f"Cannot invoke [{name}] on a null value")
        raise Fault(f"dynamic method [{jv.type_name(value)}, {name}/{len(args)}] not found")

    get = table.get
    if not args:

        def call0(f: Frame) -> Any:
            value = obj(f)
            method = get(type(value))
            return missing(value) if method is None else method(value)

        return call0
    if len(args) == 1:
        only = args[0]

        def call1(f: Frame) -> Any:
            value = obj(f)
            method = get(type(value))
            return missing(value) if method is None else method(value, only(f))

        return call1

    def call(f: Frame) -> Any:
        value = obj(f)
        method = get(type(value))
        return missing(value) if method is None else method(value, *[a(f) for a in args])

    return call


def function_call(function: Function, args: list[Expr]) -> Expr:
    converts = [STORE.get(p.type) for p in function.params]
    slots = [p.slot for p in function.params]
    ret = STORE.get(function.return_type) if function.return_type != "void" else None

    def call(f: Frame) -> Any:
        budget: Budget = f[0]
        step(budget)
        if budget.depth >= MAX_DEPTH:
            raise Fault(f"Too many nested calls (more than {MAX_DEPTH}): stack overflow")
        frame: Frame = [None] * function.size
        frame[0] = budget
        for slot, convert, arg in zip(slots, converts, args, strict=True):
            value = arg(f)
            frame[slot] = value if convert is None else convert(value)
        budget.depth += 1
        try:
            assert function.body is not None
            function.body(frame)
        finally:
            budget.depth -= 1
        result = frame[1]
        return result if ret is None else ret(result)

    return call


def iterable(value: Any) -> Any:
    kind = type(value)
    if kind is list:
        return list(value)  # a copy: the body may add to the list it walks
    if value is None:
        raise Fault("Cannot iterate over a null value")
    raise Fault(f"Cannot iterate over type [{jv.type_name(value)}]")

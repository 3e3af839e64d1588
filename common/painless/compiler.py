"""Compile a Painless parse tree once into nested Python closures (common/painless/closures.py).

Names resolve to frame slots and types to conversions at compile time; nothing dispatches on
node types at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from lark import Token, Tree

from common.painless import methods as lib
from common.painless import values as jv
from common.painless.closures import (
    BREAK,
    CONTINUE,
    FIRST_LOCAL,
    RETURN,
    Expr,
    Frame,
    Function,
    Local,
    Stmt,
    assign_field,
    assign_index,
    assign_local,
    at,
    binary,
    compound,
    function_call,
    iterable,
    method_call,
    no_incdec,
    sequence,
    store,
)
from common.painless.types import CASTS, INSTANCE, NARROW, STORE
from common.painless.values import Fault

# A parse tree node: lark mixes Trees, Tokens and None in children, checked by the grammar.
Node = Any
_NOT_CONSTANT = object()


# The exceptions a script may throw (java.lang's, as Painless allows): `throw new X(message)`.
THROWABLE = frozenset(
    {
        "Exception",
        "RuntimeException",
        "IllegalArgumentException",
        "IllegalStateException",
        "UnsupportedOperationException",
        "NullPointerException",
        "ArithmeticException",
        "IndexOutOfBoundsException",
    }
)


class CompileFault(Exception):
    """The script is not valid in the subset: the line and the problem."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


@dataclass
class Scope:
    """Compile-time names of one function: block scopes over frame slots."""

    blocks: list[dict[str, Local]] = field(default_factory=lambda: [{}])
    size: int = FIRST_LOCAL
    loops: int = 0

    def declare(self, name: str, kind: str, line: int) -> Local:
        if any(name in block for block in self.blocks):
            raise CompileFault(line, f"variable [{name}] is already defined")
        local = Local(self.size, kind)
        self.size += 1
        self.blocks[-1][name] = local
        return local

    def find(self, name: str, line: int) -> Local:
        for block in reversed(self.blocks):
            if name in block:
                return block[name]
        raise CompileFault(line, f"cannot resolve symbol [{name}]")


def _line(node: Node) -> int:
    if isinstance(node, Token):
        return node.line or 0
    return getattr(node.meta, "line", 0)


class Compiler:
    """Turns one parse tree into the script's main statement and its functions."""

    def __init__(self) -> None:
        self.functions: dict[str, Function] = {}
        self.scope = Scope()
        self.function: Function | None = None

    def compile(self, tree: Node) -> tuple[Stmt, int]:
        """Return the script's body and the size of its frame (slot 2 is params)."""
        items = tree.children
        for node in items:
            if isinstance(node, Tree) and node.data == "function":
                self._signature(node)
        for node in items:
            if isinstance(node, Tree) and node.data == "function":
                self._function_body(node)
        self.scope = Scope()
        self.scope.declare("params", "Map", 1)
        body = self._block([n for n in items if not (isinstance(n, Tree) and n.data == "function")])
        return body, self.scope.size

    def _signature(self, node: Node) -> None:
        kind, name, *params = node.children[:-1]
        line = _line(node)
        if str(name) in self.functions:
            raise CompileFault(line, f"function [{name}] is already defined")
        declared = [p for p in params if p is not None]
        self.functions[str(name)] = Function(
            str(name), str(kind), [Local(0, str(p.children[0])) for p in declared], line
        )

    def _function_body(self, node: Node) -> None:
        _, name, *params = node.children[:-1]
        function = self.functions[str(name)]
        self.scope = Scope()
        self.function = function
        declared = [p for p in params if p is not None]
        for local, param in zip(function.params, declared, strict=True):
            local.slot = self.scope.declare(str(param.children[1]), local.type, _line(param)).slot
        function.body = self._block(node.children[-1].children)
        function.size = self.scope.size
        self.function = None

    def _block(self, nodes: list[Any]) -> Stmt:
        self.scope.blocks.append({})
        stmts = [self._stmt(n) for n in nodes if n is not None]
        self.scope.blocks.pop()
        return sequence(stmts)

    def _stmt(self, node: Node) -> Stmt:
        if node.data == "last":
            return self._stmt(node.children[0])
        if node.data == "block":
            return self._block(node.children)
        handler = getattr(self, f"_s_{node.data}", None)
        if handler is None:
            raise CompileFault(_line(node), f"unsupported statement [{node.data}]")
        stmt: Stmt = handler(node)
        return at(stmt, _line(node))

    def _s_empty(self, node: Node) -> Stmt:
        return lambda f: None

    def _s_expr_stmt(self, node: Node) -> Stmt:
        expr = self._expr(node.children[0])

        def run(f: Frame) -> None:
            expr(f)

        return run

    def _s_declaration(self, node: Node) -> Stmt:
        kind = str(node.children[0])
        if kind == "void":
            raise CompileFault(_line(node), "a variable cannot be of type [void]")
        stmts = []
        for declarator in node.children[1:]:
            name, value = declarator.children
            init = None if value is None else self._expr(value)  # before: no self-reference
            local = self.scope.declare(str(name), kind, _line(declarator))
            stmts.append(store(local, init))
        return sequence(stmts)

    def _s_return_(self, node: Node) -> Stmt:
        value = node.children[0]
        if value is None:
            return lambda f: RETURN
        expr = self._expr(value)

        def run(f: Frame) -> int:
            f[1] = expr(f)
            return RETURN

        return run

    def _s_throw_(self, node: Node) -> Stmt:
        kind, args_node = node.children
        if str(kind) not in THROWABLE:
            raise CompileFault(_line(node), f"cannot throw [{kind}]")
        args = self._args(args_node)
        if len(args) > 1:
            raise CompileFault(
                _line(node), f"unknown constructor [{kind}] with [{len(args)}] arguments"
            )
        message = args[0] if args else (lambda f: None)

        def run(f: Frame) -> None:
            # Surfaces like any run-time failure: a 400 naming the line and the script's words.
            raise Fault(f"{kind}: {jv.to_string(message(f))}")

        return run

    def _s_break_(self, node: Node) -> Stmt:
        if not self.scope.loops:
            raise CompileFault(_line(node), "break must be inside a loop")
        return lambda f: BREAK

    def _s_continue_(self, node: Node) -> Stmt:
        if not self.scope.loops:
            raise CompileFault(_line(node), "continue must be inside a loop")
        return lambda f: CONTINUE

    def _s_if_(self, node: Node) -> Stmt:
        cond, then = self._condition(node.children[0]), self._scoped(node.children[1])

        def run(f: Frame) -> Any:
            if cond(f):
                return then(f)
            return None

        return run

    def _s_if_else(self, node: Node) -> Stmt:
        cond = self._condition(node.children[0])
        then, other = self._scoped(node.children[1]), self._scoped(node.children[2])

        def run(f: Frame) -> Any:
            return then(f) if cond(f) else other(f)

        return run

    def _s_while_(self, node: Node) -> Stmt:
        cond = self._condition(node.children[0])
        body = self._loop_body(node.children[1])

        def run(f: Frame) -> Any:
            budget = f[0]
            while cond(f):
                budget.left -= 1
                if budget.left <= 0:
                    budget.refill()
                signal = body(f)
                if signal:
                    if signal == BREAK:
                        break
                    if signal == RETURN:
                        return RETURN
            return None

        return run

    def _s_do_while(self, node: Node) -> Stmt:
        body = self._loop_body(node.children[0])
        cond = self._condition(node.children[1])

        def run(f: Frame) -> Any:
            budget = f[0]
            while True:
                budget.left -= 1
                if budget.left <= 0:
                    budget.refill()
                signal = body(f)
                if signal == BREAK:
                    break
                if signal == RETURN:
                    return RETURN
                if not cond(f):
                    break
            return None

        return run

    def _s_for_(self, node: Node) -> Stmt:
        init_node, cond_node, update_node, body_node = node.children
        self.scope.blocks.append({})
        init = self._for_part(init_node)
        cond = (lambda f: True) if cond_node is None else self._condition(cond_node)
        update = self._for_part(update_node)
        body = self._loop_body(body_node)
        self.scope.blocks.pop()

        def run(f: Frame) -> Any:
            budget = f[0]
            init(f)
            while cond(f):
                budget.left -= 1
                if budget.left <= 0:
                    budget.refill()
                signal = body(f)
                if signal:
                    if signal == BREAK:
                        break
                    if signal == RETURN:
                        return RETURN
                update(f)
            return None

        return run

    def _for_part(self, node: Node) -> Stmt:
        if node is None:
            return lambda f: None
        if node.children and isinstance(node.children[0], Tree):
            if node.children[0].data == "declaration":
                return self._s_declaration(node.children[0])
        exprs = [self._expr(child) for child in node.children]

        def run(f: Frame) -> None:
            for expr in exprs:
                expr(f)

        return run

    def _s_for_each(self, node: Node) -> Stmt:
        kind, name, source, body_node = node.children
        return self._each(str(kind), name, source, body_node)

    def _s_for_in(self, node: Node) -> Stmt:
        name, source, body_node = node.children
        return self._each("def", name, source, body_node)

    def _each(self, kind: str, name: Token, source: Node, body_node: Node) -> Stmt:
        items = self._expr(source)
        self.scope.blocks.append({})
        local = self.scope.declare(str(name), kind, _line(name))
        convert, slot = STORE.get(kind), local.slot
        body = self._loop_body(body_node)
        self.scope.blocks.pop()

        def run(f: Frame) -> Any:
            budget = f[0]
            for item in iterable(items(f)):
                budget.left -= 1
                if budget.left <= 0:
                    budget.refill()
                f[slot] = item if convert is None else convert(item)
                signal = body(f)
                if signal:
                    if signal == BREAK:
                        break
                    if signal == RETURN:
                        return RETURN
            return None

        return run

    def _loop_body(self, node: Node) -> Stmt:
        self.scope.loops += 1
        body = self._scoped(node)
        self.scope.loops -= 1
        return body

    def _scoped(self, node: Node) -> Stmt:
        self.scope.blocks.append({})
        stmt = self._stmt(node)
        self.scope.blocks.pop()
        return stmt

    def _condition(self, node: Node) -> Expr:
        expr = self._expr(node)
        truth = jv.truth

        def run(f: Frame) -> bool:
            value = expr(f)
            return value if value is True or value is False else truth(value)

        return run

    def _expr(self, node: Node) -> Expr:
        fn, _ = self._value(node)
        return fn

    def _value(self, node: Node) -> tuple[Expr, Any]:
        """Return the expression's function and its value when known at compile time."""
        if isinstance(node, Token):
            raise CompileFault(_line(node), f"unexpected [{node}]")
        handler = getattr(self, f"_e_{node.data}", None)
        if handler is None:
            raise CompileFault(_line(node), f"unsupported expression [{node.data}]")
        result: tuple[Expr, Any] = handler(node)
        return result

    def _e_int_lit(self, node: Node) -> tuple[Expr, Any]:
        text = str(node.children[0])
        if text[-1] in "lL":
            return _constant(jv.wrap_long(int(text[:-1], 10)))
        value = int(text, 10)
        if value > 2**31:
            raise CompileFault(_line(node), f"invalid int constant [{text}]")
        return _constant(jv.wrap_int(value))

    def _e_hex_lit(self, node: Node) -> tuple[Expr, Any]:
        text = str(node.children[0])
        if text[-1] in "lL":
            return _constant(jv.wrap_long(int(text[2:-1], 16)))
        return _constant(jv.wrap_int(int(text[2:], 16)))

    def _e_decimal_lit(self, node: Node) -> tuple[Expr, Any]:
        return _constant(float(str(node.children[0]).rstrip("fFdD")))

    def _e_string_lit(self, node: Node) -> tuple[Expr, Any]:
        return _constant(_unquote(node.children[0]))

    def _e_true_lit(self, node: Node) -> tuple[Expr, Any]:
        return _constant(True)

    def _e_false_lit(self, node: Node) -> tuple[Expr, Any]:
        return _constant(False)

    def _e_null_lit(self, node: Node) -> tuple[Expr, Any]:
        return _constant(None)

    def _e_var(self, node: Node) -> tuple[Expr, Any]:
        local = self.scope.find(str(node.children[0]), _line(node))
        return itemgetter(local.slot), _NOT_CONSTANT

    def _e_list_lit(self, node: Node) -> tuple[Expr, Any]:
        items = self._args(node.children[0])
        return (lambda f: [item(f) for item in items]), _NOT_CONSTANT

    def _e_map_lit(self, node: Node) -> tuple[Expr, Any]:
        pairs = [(self._expr(e.children[0]), self._expr(e.children[1])) for e in node.children]
        return (lambda f: {k(f): v(f) for k, v in pairs}), _NOT_CONSTANT

    def _e_empty_map(self, node: Node) -> tuple[Expr, Any]:
        return (lambda f: {}), _NOT_CONSTANT

    def _args(self, node: Node) -> list[Expr]:
        return [] if node is None else [self._expr(child) for child in node.children]

    def _e_binop(self, node: Node) -> tuple[Expr, Any]:
        (left, lc), op, (right, rc) = (
            self._value(node.children[0]),
            str(node.children[1]),
            self._value(node.children[2]),
        )
        fn = binary(op, left, right, lc, rc)
        if lc is not _NOT_CONSTANT and rc is not _NOT_CONSTANT and op in ("+", "-", "*"):
            try:
                return _constant(fn([]))  # fold "a" + "b" and 2 * 3 once, at compile time
            except Fault:
                pass
        return fn, _NOT_CONSTANT

    def _e_binop_or(self, node: Node) -> tuple[Expr, Any]:
        return self._bitwise(node, "|")

    def _e_binop_xor(self, node: Node) -> tuple[Expr, Any]:
        return self._bitwise(node, "^")

    def _e_binop_and(self, node: Node) -> tuple[Expr, Any]:
        return self._bitwise(node, "&")

    def _bitwise(self, node: Node, op: str) -> tuple[Expr, Any]:
        left, right = self._expr(node.children[0]), self._expr(node.children[1])
        bitwise = jv.bitwise
        return (lambda f: bitwise(op, left(f), right(f))), _NOT_CONSTANT

    def _e_and_(self, node: Node) -> tuple[Expr, Any]:
        left, right = self._condition(node.children[0]), self._condition(node.children[1])
        return (lambda f: left(f) and right(f)), _NOT_CONSTANT

    def _e_or_(self, node: Node) -> tuple[Expr, Any]:
        left, right = self._condition(node.children[0]), self._condition(node.children[1])
        return (lambda f: left(f) or right(f)), _NOT_CONSTANT

    def _e_not_(self, node: Node) -> tuple[Expr, Any]:
        cond = self._condition(node.children[0])
        return (lambda f: not cond(f)), _NOT_CONSTANT

    def _e_sign(self, node: Node) -> tuple[Expr, Any]:
        op = str(node.children[0])
        operand, constant = self._value(node.children[1])
        unary = jv.negate if op == "-" else jv.plus
        if constant is not _NOT_CONSTANT and jv.is_number(constant):
            return _constant(unary(constant))
        return (lambda f: unary(operand(f))), _NOT_CONSTANT

    def _e_bnot(self, node: Node) -> tuple[Expr, Any]:
        operand = self._expr(node.children[0])
        return (lambda f: jv.bit_not(operand(f))), _NOT_CONSTANT

    def _e_cond(self, node: Node) -> tuple[Expr, Any]:
        cond = self._condition(node.children[0])
        then, other = self._expr(node.children[1]), self._expr(node.children[2])
        return (lambda f: then(f) if cond(f) else other(f)), _NOT_CONSTANT

    def _e_elvis(self, node: Node) -> tuple[Expr, Any]:
        left, right = self._expr(node.children[0]), self._expr(node.children[1])

        def run(f: Frame) -> Any:
            value = left(f)
            return right(f) if value is None else value

        return run, _NOT_CONSTANT

    def _e_instanceof(self, node: Node) -> tuple[Expr, Any]:
        value, kind = self._expr(node.children[0]), str(node.children[1])
        if kind not in INSTANCE:
            raise CompileFault(_line(node), f"instanceof [{kind}] is not supported")
        types = INSTANCE[kind]

        def run(f: Frame) -> bool:
            v = value(f)
            if v is None:
                return False
            if type(v) is bool and bool not in types and object not in types:
                return False
            return type(v) in types or object in types

        return run, _NOT_CONSTANT

    def _e_cast(self, node: Node) -> tuple[Expr, Any]:
        kind, operand = str(node.children[0]), self._expr(node.children[1])
        convert = CASTS.get(kind) or STORE.get(kind, _unknown_type(kind, _line(node)))
        if convert is None:
            return operand, _NOT_CONSTANT
        return (lambda f: convert(operand(f))), _NOT_CONSTANT

    def _e_field(self, node: Node) -> tuple[Expr, Any]:
        target, dot, name = node.children
        obj, key, safe = self._expr(target), str(name), str(dot) == "?."
        get = lib.field

        def run(f: Frame) -> Any:
            value = obj(f)
            if type(value) is dict:
                return value.get(key)
            if value is None and safe:
                return None
            return get(value, key)

        return run, _NOT_CONSTANT

    def _e_index(self, node: Node) -> tuple[Expr, Any]:
        obj, key = self._expr(node.children[0]), self._expr(node.children[1])
        get = lib.get_index
        return (lambda f: get(obj(f), key(f))), _NOT_CONSTANT

    def _e_call(self, node: Node) -> tuple[Expr, Any]:
        target, dot, name, args_node = node.children
        obj, args, safe = self._expr(target), self._args(args_node), str(dot) == "?."
        table = lib.method_table(str(name), len(args))
        if table is None:
            raise CompileFault(_line(node), f"unknown method [{name}] with [{len(args)}] arguments")
        return method_call(str(name), table, obj, args, safe), _NOT_CONSTANT

    def _e_static_call(self, node: Node) -> tuple[Expr, Any]:
        kind, _, name, args_node = node.children
        args = self._args(args_node)
        fn = lib.STATIC.get((str(kind), str(name), len(args)))
        if fn is None:
            raise CompileFault(
                _line(node),
                f"unknown static method [{kind}.{name}] with [{len(args)}] arguments",
            )
        if len(args) == 1:
            only = args[0]
            return (lambda f: fn(only(f))), _NOT_CONSTANT
        return (lambda f: fn(*[a(f) for a in args])), _NOT_CONSTANT

    def _e_static_field(self, node: Node) -> tuple[Expr, Any]:
        kind, _, name = node.children
        key = (str(kind), str(name))
        if key not in lib.STATIC_FIELDS:
            raise CompileFault(_line(node), f"unknown static field [{kind}.{name}]")
        return _constant(lib.STATIC_FIELDS[key])

    def _e_new_obj(self, node: Node) -> tuple[Expr, Any]:
        kind, args_node = node.children
        args = self._args(args_node)
        make = lib.CONSTRUCTORS.get((str(kind), len(args)))
        if make is None:
            raise CompileFault(
                _line(node), f"unknown constructor [{kind}] with [{len(args)}] arguments"
            )
        return (lambda f: make(*[a(f) for a in args])), _NOT_CONSTANT

    def _e_new_array(self, node: Node) -> tuple[Expr, Any]:
        kind, size_node = node.children
        size, zero = self._expr(size_node), lib.ARRAY_ZERO.get(str(kind))

        def run(f: Frame) -> list[Any]:
            n = size(f)
            if type(n) is not int or n < 0:
                raise Fault(f"Invalid array size [{jv.to_string(n)}]")
            if n > jv.MAX_ITEMS:
                raise Fault(f"Array size [{n}] is too large")
            return [zero] * n

        return run, _NOT_CONSTANT

    def _e_new_array_init(self, node: Node) -> tuple[Expr, Any]:
        items = self._args(node.children[1])
        return (lambda f: [item(f) for item in items]), _NOT_CONSTANT

    def _e_local_call(self, node: Node) -> tuple[Expr, Any]:
        name, args_node = str(node.children[0]), node.children[1]
        args = self._args(args_node)
        function = self.functions.get(name)
        if function is None:
            raise CompileFault(
                _line(node), f"unknown function [{name}] with [{len(args)}] arguments"
            )
        if len(function.params) != len(args):
            raise CompileFault(
                _line(node),
                f"function [{name}] takes {len(function.params)} arguments, not {len(args)}",
            )
        return function_call(function, args), _NOT_CONSTANT

    def _e_assign(self, node: Node) -> tuple[Expr, Any]:
        target, op_token, value_node = node.children
        op, value = str(op_token), self._expr(value_node)
        combine = None if op == "=" else compound(op[:-1])
        if target.data == "var":
            local = self.scope.find(str(target.children[0]), _line(target))
            return assign_local(local, combine, value), _NOT_CONSTANT
        if target.data == "field":
            obj, key = self._expr(target.children[0]), str(target.children[2])
            return assign_field(obj, key, combine, value), _NOT_CONSTANT
        if target.data == "index":
            obj, key_expr = self._expr(target.children[0]), self._expr(target.children[1])
            return assign_index(obj, key_expr, combine, value), _NOT_CONSTANT
        raise CompileFault(_line(node), "the left side of an assignment must be a variable")

    def _e_pre_incdec(self, node: Node) -> tuple[Expr, Any]:
        return self._incdec(node.children[1], str(node.children[0]), prefix=True)

    def _e_post_incdec(self, node: Node) -> tuple[Expr, Any]:
        return self._incdec(node.children[0], str(node.children[1]), prefix=False)

    def _incdec(self, target: Node, op: str, *, prefix: bool) -> tuple[Expr, Any]:
        if target.data != "var":  # obj.f++ and a[i]++ are obj.f += 1 and a[i] += 1
            compound = Token("ASSIGN", "+=" if op == "++" else "-=")
            one = Tree("int_lit", [Token("INT", "1")])
            return self._e_assign(Tree("assign", [target, compound, one], meta=target.meta))
        local = self.scope.find(str(target.children[0]), _line(target))
        slot, delta = local.slot, 1 if op == "++" else -1
        narrow = NARROW.get(local.type)
        arithmetic = jv.arithmetic

        def run(f: Frame) -> Any:
            old = f[slot]
            if type(old) is int and -(2**31) < old + delta < 2**31 - 1:
                new = old + delta
            else:
                new = arithmetic("+", old, delta) if jv.is_number(old) else no_incdec(old)
                if narrow is not None:
                    new = narrow(new)
            f[slot] = new
            return new if prefix else old

        return run, _NOT_CONSTANT


def _unknown_type(kind: str, line: int) -> Any:
    if kind not in STORE:
        raise CompileFault(line, f"cannot cast to [{kind}]")
    return None


def _constant(value: Any) -> tuple[Expr, Any]:
    return (lambda f: value), value


def _unquote(token: Token) -> str:
    text, quote = str(token), str(token)[0]
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            nxt = body[i + 1]
            if nxt not in ("\\", quote):
                raise CompileFault(
                    _line(token),
                    f"unexpected character [\\{nxt}]. The only valid escape sequences in "
                    f"strings starting with [{quote}] are [\\\\] and [\\{quote}].",
                )
            out.append(nxt)
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)

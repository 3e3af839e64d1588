"""The Painless interpreter: Java's semantics where scripts see them, and the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from common.errors import IllegalArgumentError
from common.painless import compile_script


def run(source: str, params: dict[str, Any] | None = None, **limits: Any) -> str | None:
    return compile_script(source).run(params if params is not None else {}, **limits)


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ('"" + [1, "a", null, 1.0]', "[1, a, null, 1.0]"),
        ('"" + ["k": [2.5], "n": null]', "{k=[2.5], n=null}"),
        ('"" + 1.0 + " " + 0.5 + " " + 100.0', "1.0 0.5 100.0"),
        ('"" + 0.0001 + " " + 12345678.0 + " " + 1e21', "1.0E-4 1.2345678E7 1.0E21"),
        ('"" + -0.00012 + " " + 0.001', "-1.2E-4 0.001"),
        ('"" + null', "null"),
        ('"" + true + false', "truefalse"),
        ('"a" + 1 + 2', "a12"),
        ('1 + 2 + "a"', "3a"),
        ('"" + [[1.5, 2.0], []]', "[[1.5, 2.0], []]"),
        ('"" + new StringBuilder("x").append(1).append(null)', "x1null"),
        ('"" + 3L', "3"),
    ],
)
def test_string_concatenation_prints_like_java(expression: str, text: str) -> None:
    assert run(f"return {expression};") == text


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ("7 / 2", "3"),
        ("-7 / 2", "-3"),
        ("-7 % 3", "-1"),
        ("7 % -3", "1"),
        ("7.0 / 2", "3.5"),
        ("2147483647 + 1", "-2147483648"),
        ("65536 * 65536", "0"),
        ("2147483647L + 1", "2147483648"),
        ("1 / 2 * 2.0", "0.0"),
        ("1.0 / 0", "Infinity"),
        ("(int) 3.9 + (int) -3.9", "0"),
        ("(double) 3", "3.0"),
        ("5 >> 1", "2"),
        ("-1 >>> 28", "15"),
        ("Math.max(1, 2)", "2"),
        ("Math.max(1, 2.5)", "2.5"),
        ("Math.abs(-4)", "4"),
        ("Integer.MAX_VALUE + 1 == Integer.MIN_VALUE", "true"),
    ],
)
def test_arithmetic_follows_java_int_and_double_rules(expression: str, text: str) -> None:
    assert run(f'return "" + ({expression});') == text


def test_integer_division_by_zero_fails_with_its_line() -> None:
    with pytest.raises(IllegalArgumentError, match="line 2: / by zero"):
        run("int a = 0;\nreturn '' + 1 / a;")


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ('"abc" == "ab" + "c"', "true"),
        ('params.s == "abc"', "true"),
        ('"abc" != params.s', "false"),
        ("1 == 1.0", "true"),
        ("params.missing == null", "true"),
        ("null == null", "true"),
        ('"1" == 1', "false"),
        ("[1, 2] == [1, 2]", "true"),
        ('["a": 1] == ["a": 1]', "true"),
        ("true == 1", "false"),
        ("[1] === [1]", "false"),
    ],
)
def test_equality_compares_values_as_painless_does(expression: str, value: str) -> None:
    assert run(f'return "" + ({expression});', {"s": "abc"}) == value


def test_params_access_nested_and_missing_keys_are_null() -> None:
    params = {"a": {"b": [{"c": "deep"}]}, "x": None}
    script = """
        def first = params.a.b[0].c;
        def second = params['a']['b'][0]['c'];
        return first + second + params.missing + params.x + params['nothing'] + params.a.b[-1].c;
    """
    assert run(script, params) == "deepdeepnullnullnulldeep"


def test_field_of_null_is_an_error_naming_the_line() -> None:
    with pytest.raises(IllegalArgumentError, match="line 3: Cannot access field \\[b\\]"):
        run("def a = params.nothing;\n\nreturn a.b;")


def test_null_safe_navigation_and_elvis() -> None:
    assert run('return "" + params.a?.b + (params.a ?: "dflt");') == "nulldflt"


def test_control_flow() -> None:
    script = """
        int total = 0;
        for (int i = 0; i < 10; i++) {
            if (i % 2 == 0) { continue; }
            if (i > 7) break;
            total += i;
        }
        int j = 0;
        while (j < 3) { j++; }
        do { j--; } while (j > 1);
        List seen = new ArrayList();
        for (def x : params.items) { seen.add(x); }
        for (item in params.items) { seen.add(item); }
        return total + " " + j + " " + seen + " " + (total > 10 ? "big" : "small");
    """
    assert run(script, {"items": ["p", "q"]}) == "16 1 [p, q, p, q] big"


def test_collections_and_strings() -> None:
    script = """
        Map m = new HashMap();
        m.put("k", 1);
        m.k2 = "v";
        List l = [3, 1];
        l.add(2);
        l[0] = 9;
        String s = "Hello, World";
        return m.size() + " " + m.containsKey("k") + " " + m.get("k2") + " " + l + " "
            + l.length + " " + l.size() + " " + l.get(2) + " " + l.isEmpty() + " "
            + s.substring(7) + " " + s.substring(0, 5) + " " + s.indexOf("o") + " "
            + s.replace("l", "L") + " " + s.length() + " " + s.toString() + " "
            + String.valueOf(5) + " " + [1].toString() + " " + s.contains("World");
    """
    assert run(script) == (
        "2 true v [9, 1, 2] 3 3 2 false World Hello 4 HeLLo, WorLd 12 Hello, World 5 [1] true"
    )


def test_string_builder() -> None:
    script = """
        StringBuilder b = new StringBuilder();
        b.append("a").append(1).append([2.0]);
        return b.toString() + b.length();
    """
    assert run(script) == "a1[2.0]7"


def test_user_methods_and_recursion() -> None:
    script = """
        int fact(int n) { return n <= 1 ? 1 : n * fact(n - 1); }
        String twice(def s) { return s + s; }
        return fact(5) + twice("ab");
    """
    assert run(script) == "120abab"


def test_default_escape_is_available() -> None:
    script = 'return "{\\"text\\":\\"" + escape(params.t) + "\\"}";'
    assert run(script, {"t": 'say "hi"\nback\\slash'}) == '{"text":"say \\"hi\\"\\nback\\\\slash"}'


def test_a_script_defining_escape_keeps_its_own() -> None:
    script = 'String escape(def x) { return "E"; } return escape("a");'
    assert run(script) == "E"


def test_typed_locals_are_checked() -> None:
    assert run("double d = 1; long n = 5; return '' + d + n;") == "1.05"
    with pytest.raises(IllegalArgumentError, match="Cannot cast java.lang.String to int"):
        run('int x = params.s; return "";', {"s": "text"})


def test_compound_assignment_narrows_like_java() -> None:
    assert run("int x = 7; x /= 2; x += 1.9; return '' + x;") == "4"


def test_string_escapes_are_only_backslash_and_quote() -> None:
    assert run("return 'it\\'s' + \"\\\\\";") == "it's\\"
    with pytest.raises(IllegalArgumentError, match="line 1: unexpected character"):
        run('return "\\n";')


def test_no_return_gives_null_and_non_strings_are_refused() -> None:
    assert run("def x = 1;") is None
    with pytest.raises(IllegalArgumentError, match="must return a String"):
        run("return 1;")


def test_comments_and_last_statement_without_semicolon() -> None:
    assert run("// line\n/* block */ return params.a") is None


# The sandbox.


def test_infinite_loop_is_stopped_by_the_step_budget() -> None:
    with pytest.raises(IllegalArgumentError, match="line 1: .*budget of 1000 loop"):
        run("while (true) {}", max_steps=1000)


def test_endless_loop_is_stopped_by_the_wall_time() -> None:
    with pytest.raises(IllegalArgumentError, match="ran longer than"):
        run("int i = 0; while (true) { i++; }", max_steps=10**12, max_seconds=0.05)


def test_deep_recursion_is_stopped() -> None:
    with pytest.raises(IllegalArgumentError, match="Too many nested calls"):
        run("int f(int n) { return f(n + 1); } return '' + f(0);")


def test_no_attribute_escape() -> None:
    # params is a Map: any key, __class__ included, is a (missing) key.
    assert run('return "" + params.__class__ + params["__dict__"];') == "nullnull"
    with pytest.raises(IllegalArgumentError, match="Unknown field \\[__class__\\]"):
        run('return "abc".__class__;')
    with pytest.raises(IllegalArgumentError, match="unknown method \\[__getattribute__\\]"):
        run('return "abc".__getattribute__("x");')


def test_unknown_method_is_refused_at_compile_with_its_line() -> None:
    with pytest.raises(IllegalArgumentError, match="line 3: unknown method \\[explode\\]"):
        compile_script("def a = 1;\n\nreturn a.explode();")


def test_method_on_the_wrong_type_fails_at_run() -> None:
    with pytest.raises(IllegalArgumentError, match="line 1: dynamic method .*Integer, size/0"):
        run("def a = 1; return '' + a.size();")


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("return 1 +;", "line 1: unexpected \\[;\\]"),
        ("int x = 1;\nreturn y;", "line 2: cannot resolve symbol \\[y\\]"),
        ("int x = 1; int x = 2;", "variable \\[x\\] is already defined"),
        ("break;", "break must be inside a loop"),
        ("return Runtime.getRuntime();", "line 1: cannot resolve symbol \\[Runtime\\]"),
        ("return new File('x');", "line 1: unexpected"),
        ("return Math.random2();", "unknown static method \\[Math.random2\\]"),
        ("return nothing(1);", "unknown function \\[nothing\\]"),
        ("import java.io.File;", "line 1: unexpected"),
        ("return 'a'", "x^"),
    ],
)
def test_scripts_outside_the_subset_are_refused(source: str, problem: str) -> None:
    if problem == "x^":  # a valid script: the last statement may omit its semicolon
        assert run(source) == "a"
        return
    with pytest.raises(IllegalArgumentError, match=problem):
        compile_script(source)


def test_a_huge_string_is_refused() -> None:
    with pytest.raises(IllegalArgumentError, match="longer than"):
        run('String s = "xxxxxxxxxxxxxxxx"; while (true) { s = s + s; }')


def test_a_list_printed_into_a_string_is_not_changed_by_later_changes() -> None:
    script = """
        def s = "v=" + params.v;
        params.v.add(9.5);
        StringBuilder b = new StringBuilder().append(params.v);
        params.v.clear();
        return s + " " + b.toString() + " " + params.v;
    """
    vector = [0.5] * 40
    expected = f"v={vector} {vector + [9.5]} []"
    assert run(script, {"v": list(vector)}) == expected


def test_growing_lists_and_strings_without_bound_is_refused() -> None:
    with pytest.raises(IllegalArgumentError, match="A list longer than"):
        run("List l = [1]; while (true) { l.addAll(l); }")
    with pytest.raises(IllegalArgumentError, match="A string longer than"):
        run('String s = "abcdefgh"; while (true) { s = s.concat(s); }')
    with pytest.raises(IllegalArgumentError, match="Array size .* is too large"):
        run("def a = new int[100000000]; return '';")


def test_a_script_may_throw_and_fails_with_its_message_and_line() -> None:
    script = (
        'if (params.x == null) {\n  throw new IllegalArgumentException("x is " + "missing");\n}'
    )
    script += "\nreturn 'ok';"
    assert run(script, {"x": 1}) == "ok"
    with pytest.raises(
        IllegalArgumentError, match="line 2: IllegalArgumentException: x is missing"
    ):
        run(script, {})
    with pytest.raises(IllegalArgumentError, match="line 1: cannot throw \\[Runtime\\]"):
        compile_script('throw new Runtime("no");')

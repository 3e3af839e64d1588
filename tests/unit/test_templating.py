"""Tests for common.templating: ML Commons' parameter coercion, escaping and template filling."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common import templating as tpl
from common.errors import IllegalArgumentError

# stringify_parameters (spec 0.4)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, "7"),
        (0, "0"),
        (-3, "-3"),
        (0.5, "0.5"),
        (1.0, "1.0"),
        (True, "true"),
        (False, "false"),
        (["a", "b"], '["a","b"]'),
        ({"a": 1}, '{"a":1}'),
        ({"a": [1, {"b": None}]}, '{"a":[1,{"b":null}]}'),
        (["Moët", "日本"], '["Moët","日本"]'),
        ("plain text", "plain text"),
        ('{"a": 1}', '{"a": 1}'),
        ("", ""),
    ],
)
def test_stringify_parameters_coerces_like_gson(value, expected):
    assert tpl.stringify_parameters({"p": value}) == {"p": expected}


def test_stringify_parameters_keeps_every_key():
    params = {"a": 1, "b": "x", "c": [1]}
    assert tpl.stringify_parameters(params) == {"a": "1", "b": "x", "c": "[1]"}


# escape_json (spec 8.3, commons-text escapeJson)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain ascii ~!", "plain ascii ~!"),
        ('say "hi"', 'say \\"hi\\"'),
        ("back\\slash", "back\\\\slash"),
        ("a/b", "a\\/b"),
        ("line\nbreak", "line\\nbreak"),
        ("tab\there", "tab\\there"),
        ("cr\rhere", "cr\\rhere"),
        ("bs\bhere", "bs\\bhere"),
        ("ff\fhere", "ff\\fhere"),
        ("\x00", "\\u0000"),
        ("\x01", "\\u0001"),
        ("\x1f", "\\u001F"),
        ("\x1b[0m", "\\u001B[0m"),
        ("\x7f", "\\u007F"),
        ("Moët", "Mo\\u00EBt"),
        ("é", "\\u00E9"),
        ("\u2028", "\\u2028"),
        ("日本", "\\u65E5\\u672C"),
        ("\U0001f600", "\\uD83D\\uDE00"),
        ("x\U0001d11ey", "x\\uD834\\uDD1Ey"),
        ("", ""),
    ],
)
def test_escape_json(text, expected):
    assert tpl.escape_json(text) == expected


@pytest.mark.parametrize("text", ['a"b\\c/d\n\t\r\b\f\x01', "Moët \U0001f600 日本", "~ \x7f"])
def test_escape_json_output_is_a_valid_json_string_body(text):
    escaped = tpl.escape_json(text)
    assert json.loads(f'"{escaped}"') == text
    assert all(" " <= char <= "~" for char in escaped)


# is_json_container


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', True),
        ("[1, 2]", True),
        ("[]", True),
        ("{}", True),
        ('  {"a": [1]}  ', True),
        ("7", False),
        ("true", False),
        ("null", False),
        ('"quoted"', False),
        ("hello", False),
        ("", False),
        ("   ", False),
        ("[1, 2", False),
        ("{not json}", False),
        ("[1]x", False),
    ],
)
def test_is_json_container(text, expected):
    assert tpl.is_json_container(text) is expected


# escape_request_parameters (spec 8.3)


def test_escape_request_parameters_splices_containers_and_escapes_strings():
    params: dict[str, str | None] = {
        "messages": '[{"role":"user","content":"a/b"}]',
        "obj": '{"k": "v/w"}',
        "prompt": 'He said "hi"/bye',
        "number": "7",
        "flag": "true",
        "missing": None,
    }
    assert tpl.escape_request_parameters(params) == {
        "messages": '[{"role":"user","content":"a/b"}]',
        "obj": '{"k": "v/w"}',
        "prompt": 'He said \\"hi\\"\\/bye',
        "number": "7",
        "flag": "true",
        "missing": None,
    }


def test_escape_request_parameters_honours_no_escape_params():
    params: dict[str, str | None] = {
        "raw": 'a "b"',
        "also_raw": "x/y",
        "escaped": 'a "b"',
        "no_escape_params": "raw, also_raw",
    }
    result = tpl.escape_request_parameters(params)
    assert result["raw"] == 'a "b"'
    assert result["also_raw"] == "x/y"
    assert result["escaped"] == 'a \\"b\\"'


def test_escape_request_parameters_does_not_change_its_input():
    params: dict[str, str | None] = {"p": 'a"b'}
    tpl.escape_request_parameters(params)
    assert params == {"p": 'a"b'}


# substitute (commons-text StringSubstitutor semantics, spec 8.4 step 5)


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("${parameters.x}", {"x": "1"}, "1"),
        ("a ${parameters.x} b ${parameters.y}", {"x": "1", "y": "2"}, "a 1 b 2"),
        ("${parameters.x}${parameters.x}", {"x": "ab"}, "abab"),
        ("${parameters.x:-d}", {}, "d"),
        ("${parameters.x:-d}", {"x": "v"}, "v"),
        ("${parameters.x:-}", {}, ""),
        ("${parameters.x:-d}", {"x": None}, "d"),
        ("${parameters.x}", {"x": ""}, ""),
        ("$${parameters.x}", {"x": "1"}, "${parameters.x}"),
        ("$${parameters.x} ${parameters.x}", {"x": "1"}, "${parameters.x} 1"),
        ("${parameters.unknown}", {}, "${parameters.unknown}"),
        ("${parameters.unknown} ${parameters.x}", {"x": "1"}, "${parameters.unknown} 1"),
        ("${parameters.x}", {"x": None}, "${parameters.x}"),
        ("${credential.k} ${parameters.x}", {"x": "1"}, "${credential.k} 1"),
        ("${parameters.x", {"x": "1"}, "${parameters.x"),
        ("no placeholders", {"x": "1"}, "no placeholders"),
    ],
)
def test_substitute(template, values, expected):
    assert tpl.substitute(template, values) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"a": "<${parameters.b}>", "b": "B"}, "<B>"),
        ({"a": "${parameters.b}", "b": "${parameters.c}", "c": "C"}, "C"),
        ({"a": "${parameters.b:-fallback}"}, "fallback"),
        ({"a": "${parameters.zz}"}, "${parameters.zz}"),
    ],
)
def test_substitute_is_recursive(values, expected):
    assert tpl.substitute("${parameters.a}", values) == expected


@pytest.mark.parametrize(
    "values",
    [
        {"a": "${parameters.a}"},
        {"a": "x ${parameters.b}", "b": "y ${parameters.a}"},
        {"a": "${parameters.b}", "b": "${parameters.c}", "c": "${parameters.a}"},
    ],
)
def test_substitute_cycle_is_an_illegal_argument(values):
    with pytest.raises(IllegalArgumentError, match="Infinite loop"):
        tpl.substitute("${parameters.a}", values)


def test_substitute_same_parameter_twice_is_not_a_cycle():
    values: dict[str, str | None] = {"a": "${parameters.b}-${parameters.b}", "b": "B"}
    assert tpl.substitute("${parameters.a}/${parameters.a}", values) == "B-B/B-B"


def test_substitute_with_credential_prefix():
    result = tpl.substitute("${credential.k} ${parameters.k}", {"k": "v"}, tpl.CREDS)
    assert result == "v ${parameters.k}"


# render_body (spec 8.4)


def test_render_body_fills_quoted_and_unquoted_slots():
    template = (
        '{"model":"${parameters.model}","messages":${parameters.messages},"n":${parameters.n}}'
    )
    params: dict[str, str | None] = {
        "model": "gpt",
        "messages": '[{"role":"user","content":"hi"}]',
        "n": "2",
    }
    body = tpl.render_body(template, params)
    assert body is not None
    assert json.loads(body) == {
        "model": "gpt",
        "messages": [{"role": "user", "content": "hi"}],
        "n": 2,
    }


@pytest.mark.parametrize("params", [{}, {"x": None}])
def test_render_body_null_default_with_missing_value_becomes_bare_null(params):
    body = tpl.render_body('{"a":"${parameters.x:-null}","b":1}', params)
    assert body == '{"a":null,"b":1}'


def test_render_body_null_default_with_value_stays_quoted():
    body = tpl.render_body('{"a":"${parameters.x:-null}"}', {"x": "val"})
    assert body == '{"a":"val"}'


def test_render_body_to_string_adds_escaped_synthetic_parameter():
    params: dict[str, str | None] = {"docs": '["a", "b\\"c"]'}
    body = tpl.render_body('{"input":"${parameters.docs.toString()}"}', params)
    assert body is not None
    assert json.loads(body) == {"input": '["a", "b\\"c"]'}
    assert "docs.toString()" not in params  # the caller's map is not changed


def test_render_body_recursive_value_is_filled():
    params: dict[str, str | None] = {"prompt": "Q: ${parameters.question}", "question": "why"}
    assert tpl.render_body('{"p":"${parameters.prompt}"}', params) == '{"p":"Q: why"}'


@pytest.mark.parametrize(
    ("template", "missing"),
    [
        ('{"a":"${parameters.a}"}', "a"),
        ('{"a":"${parameters.a}","b":"${parameters.b}"}', "a, b"),
        ('{"b":"${parameters.b}","a":"${parameters.a}"}', "b, a"),
        ('{"a":"${parameters.a}","b":"${parameters.b}","c":"${parameters.a}"}', "a, b"),
        ('{"k":"${parameters.k}","x":"${parameters.x}"}', "x"),
    ],
)
def test_render_body_quoted_leftovers_are_named_in_order(template, missing):
    with pytest.raises(IllegalArgumentError) as caught:
        tpl.render_body(template, {"k": "v"})
    assert caught.value.reason == f"Some parameter placeholder not filled in payload: {missing}"
    assert caught.value.status == 400


def test_render_body_unquoted_leftover_is_invalid_payload():
    template = '{"a":${parameters.a}}'
    with pytest.raises(IllegalArgumentError) as caught:
        tpl.render_body(template, {})
    assert caught.value.reason == "Invalid payload: " + template


@pytest.mark.parametrize("template", ['{"a": "unterminated}', "not json at all", '{"a":1}}'])
def test_render_body_invalid_json_is_invalid_payload(template):
    with pytest.raises(IllegalArgumentError, match="^Invalid payload: "):
        tpl.render_body(template, {})


def test_render_body_ndjson_is_accepted():
    template = '{"index":{}}\n{"text":"${parameters.t}"}\n'
    assert tpl.render_body(template, {"t": "x"}) == '{"index":{}}\n{"text":"x"}\n'


def test_render_body_ndjson_with_a_bad_line_is_invalid():
    with pytest.raises(IllegalArgumentError, match="^Invalid payload: "):
        tpl.render_body('{"a":1}\nnot json\n', {})


def test_render_body_skip_validating_missing_parameters_lets_leftovers_through():
    params: dict[str, str | None] = {"skip_validating_missing_parameters": "true"}
    body = tpl.render_body('{"a":"${parameters.a}"}', params)
    assert body == '{"a":"${parameters.a}"}'


def test_render_body_skip_flag_must_be_exactly_true():
    params: dict[str, str | None] = {"skip_validating_missing_parameters": "false"}
    with pytest.raises(IllegalArgumentError, match="not filled in payload: a$"):
        tpl.render_body('{"a":"${parameters.a}"}', params)


def test_render_body_escaped_placeholder_counts_as_leftover():
    with pytest.raises(IllegalArgumentError, match="not filled in payload: x$"):
        tpl.render_body('{"a":"$${parameters.x}"}', {"x": "1"})


@pytest.mark.parametrize(
    ("params", "expected"),
    [({"http_body": '{"raw":true}'}, '{"raw":true}'), ({}, None), ({"http_body": None}, None)],
)
def test_render_body_without_template_uses_http_body(params, expected):
    assert tpl.render_body(None, params) == expected


# render_url


def test_render_url_uses_raw_parameters_and_credentials():
    url = tpl.render_url(
        "https://${parameters.host}/${credential.version}/${parameters.path}",
        {"host": "api.example.com", "path": "a/b"},
        {"version": "v1"},
    )
    assert url == "https://api.example.com/v1/a/b"


def test_render_url_substitutes_credentials_before_parameters():
    url = tpl.render_url("https://h/${credential.c}", {"p": "P"}, {"c": "${parameters.p}"})
    assert url == "https://h/P"


def test_render_url_leaves_unknown_placeholders():
    assert tpl.render_url("https://h/${parameters.x}", {}, {}) == "https://h/${parameters.x}"


# render_headers (spec 8.5)


def test_render_headers_fills_credentials_then_parameters():
    headers = {
        "Authorization": "Bearer ${credential.key}",
        "X-Model": "${parameters.model}",
        "X-Mixed": "${credential.key}:${parameters.model}",
        "X-Plain": "static",
    }
    rendered = tpl.render_headers(headers, {"model": "m1"}, {"key": "sk-1"})
    assert rendered == {
        "Authorization": "Bearer sk-1",
        "X-Model": "m1",
        "X-Mixed": "sk-1:m1",
        "X-Plain": "static",
    }


def test_render_headers_parameter_inside_a_credential_value_is_filled():
    rendered = tpl.render_headers({"X": "${credential.c}"}, {"p": "P"}, {"c": "${parameters.p}"})
    assert rendered == {"X": "P"}


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("X-Model", "${parameters.model}"),
        ("X-Key", "${credential.absent}"),
        ("X-Partial", "prefix-${parameters.model}"),
    ],
)
def test_render_headers_unresolved_placeholder_is_refused(name, template):
    with pytest.raises(IllegalArgumentError) as caught:
        tpl.render_headers({"X-Ok": "ok", name: template}, {}, {})
    assert caught.value.reason == (
        f"Header '{name}' contains unresolved placeholder. Required parameter is missing."
    )


@pytest.mark.parametrize("value", ["a\r\nInjected: yes", "a\nb", "a\x00b", "a\x7fb", "a\x1fb"])
def test_render_headers_control_characters_are_refused(value):
    with pytest.raises(IllegalArgumentError) as caught:
        tpl.render_headers({"X-Model": "${parameters.model}"}, {"model": value}, {})
    assert caught.value.reason == "Header value contains invalid control character"


# check_header_templates (spec 3.1 step 6)


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "authorization",
        "Proxy-Authorization",
        "Cookie",
        "x-api-key",
        "Host",
        "X-Forwarded-For",
        "Forwarded",
        "True-Client-IP",
    ],
)
def test_check_header_templates_refuses_parameters_in_sensitive_headers(name):
    with pytest.raises(IllegalArgumentError) as caught:
        tpl.check_header_templates({name: "Bearer ${parameters.token}"})
    assert caught.value.reason == (
        f"Header '{name}' cannot use ${{parameters.*}} placeholders for security reasons. "
        "Use ${credential.*} instead."
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Custom": "${parameters.model}"},
        {"Authorization": "Bearer ${credential.key}"},
        {"Authorization": "Bearer static"},
        {"content-type": "application/json"},
        {},
    ],
)
def test_check_header_templates_allows_other_headers(headers):
    tpl.check_header_templates(headers)


# fill_credentials


def test_fill_credentials_escapes_values():
    template = '{"key":"${credential.key}","p":"${parameters.p}"}'
    filled = tpl.fill_credentials(template, {"key": 'a"b\\c/d'})
    assert filled == '{"key":"a\\"b\\\\c\\/d","p":"${parameters.p}"}'
    parsed: dict[str, Any] = json.loads(filled.replace("${parameters.p}", "x"))
    assert parsed["key"] == 'a"b\\c/d'


def test_fill_credentials_leaves_unknown_credentials():
    assert tpl.fill_credentials("${credential.x}", {}) == "${credential.x}"


def test_null_parameter_becomes_the_text_null() -> None:
    assert tpl.stringify_parameters({"x": None}) == {"x": "null"}


def test_empty_string_is_not_missing_for_null_default() -> None:
    assert tpl.render_body('{"a":"${parameters.x:-null}"}', {"x": ""}) == '{"a":""}'
    assert tpl.render_body('{"a":"${parameters.x:-null}"}', {}) == '{"a":null}'


def test_to_string_placeholder_inside_a_parameter_value() -> None:
    params = {"prompt": "ctx: ${parameters.c.toString()}", "c": '["a"]'}
    assert tpl.render_body('{"p":"${parameters.prompt}"}', params) == '{"p":"ctx: [\\"a\\"]"}'


def test_substitution_depth_and_size_are_bounded() -> None:
    deep = {f"l{i}": f"${{parameters.l{i + 1}}}" for i in range(20)} | {"l20": "x"}
    with pytest.raises(IllegalArgumentError, match="nested deeper"):
        tpl.substitute("${parameters.l0}", deep)
    shallow = {f"l{i}": f"${{parameters.l{i + 1}}}" for i in range(5)} | {"l5": "x"}
    assert tpl.substitute("${parameters.l0}", shallow) == "x"
    big = {"a": "y" * (tpl.MAX_FILLED_CHARS // 2 + 1), "b": "${parameters.a}${parameters.a}"}
    with pytest.raises(IllegalArgumentError, match="too large"):
        tpl.substitute("${parameters.b}", big)

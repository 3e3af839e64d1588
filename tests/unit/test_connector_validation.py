"""Hostile connector definitions, settings and predict parameters: each is a 400, never a 500.

Covers common.trusted_regex, common.request_rules, the list/int rules of common.cluster_settings,
the connector schema, and workers.remote.connector.build_request on hostile input.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from marshmallow import ValidationError

from api.schemas import ConnectorSchema, load
from common import cluster_settings as cs
from common import connectors as rules
from common import request_rules
from common import templating as tpl
from common import trusted_regex as tr
from common.errors import IllegalArgumentError
from common.records import Connector, from_wire
from workers.model_cache import PreparedModel
from workers.remote.connector import build_request

REGEX = cs.PREFIX + "trusted_connector_endpoints_regex"
REDOS = "Regex pattern contains nested quantifiers or backreferences that may cause ReDoS: "
# Patterns a backtracking engine takes exponential or high-polynomial time on, accepted
# because RE2 matches them in linear time.
OVERLAPPING = [
    r"^(a|aa)+$",
    r"^(a|a?)+$",
    r"^(?:a|ab|abc)*c$",
    r"^" + r".*" * 60 + r"x$",
    r"^" + r".*a" * 12 + r"$",
    r"^http://(a|aa|aaa)+\.com/.*$",
]


def _reason(call: Any, *args: Any) -> str:
    with pytest.raises(IllegalArgumentError) as caught:
        call(*args)
    assert caught.value.status == 400
    return caught.value.reason


# trusted_regex: patterns


@pytest.mark.parametrize(
    "pattern",
    [
        "^(a+)+$",
        "(a*)*b",
        "^(ab|a*)*$",
        "(a)\\1",
        "(?P<x>a)(?P=x)",
        "^(?:x{2,}){3,}$",
        "^(?:(?=a)a+)+$",
    ],
)
def test_nested_quantifiers_and_backreferences_get_ml_commons_message(pattern):
    assert _reason(tr.check_pattern, pattern) == REDOS + pattern


@pytest.mark.parametrize(
    "pattern",
    [
        "^(?=.*a)http://.*$",  # lookahead
        "(?=a)+",  # quantified lookahead
        "^(?:(?!b).)*$",
        "^(?!http)x$",  # negative lookahead
        "(?<=a)b",  # lookbehind
        "(?<!a)b",
        "(?>a|ab)c",  # atomic group
        "a++b",  # possessive
        "^http://x\\Z",  # \\Z: RE2 spells it \\z
        "(?x) a b",  # verbose flag
        "(",
        "[a-",
        "*a",
        "a{2,1}",
        "\\p{L}",  # RE2 only: both dialects must parse the pattern
        "^a(?i)b$",
        "a{1001}",  # over RE2's repeat limit
    ],
)
def test_patterns_re2_cannot_run_or_python_cannot_parse_are_invalid(pattern):
    assert _reason(tr.check_pattern, pattern) == f"Invalid regex pattern: {pattern}"


@pytest.mark.parametrize(
    "pattern",
    [r"^[\s\S]{0,999}a[\s\S]{0,999}b$", r"^.{0,200}a.{0,200}b$", r"^[a-z0-9.-]{1,253}$"],
)
def test_patterns_compiling_to_large_programs_are_too_complex(pattern):
    reason = _reason(tr.check_pattern, pattern)
    assert reason.startswith("Regex pattern too complex (it compiles to ")
    assert reason.endswith(pattern)


def test_a_list_too_complex_together_is_refused():
    patterns = [f"^https://h{n}\\.example/[a-z]{{0,400}}$" for n in range(7)]
    for pattern in patterns:
        tr.check_pattern(pattern)
    assert _reason(tr.check_patterns, patterns).startswith("Regex patterns too complex together")


@pytest.mark.parametrize("pattern", [*cs.DEFAULT_TRUSTED_ENDPOINTS, *OVERLAPPING])
def test_defaults_and_overlapping_alternations_are_accepted(pattern):
    assert 0 < tr.check_pattern(pattern) <= tr.MAX_PROGRAM_SIZE


def test_overlapping_patterns_match_adversarial_urls_without_stalling():
    urls = ["a" * n + "!" for n in (30, 1_000, tr.MAX_URL_CHARS - 1)]
    urls += ["http://" + "a" * 5_000 + "!.com/", "x" * 8_000 + "y"]
    started = time.monotonic()
    for url in urls:
        assert not tr.is_trusted(url, OVERLAPPING)
    # Backtracking takes minutes on the first URL alone; RE2 takes microseconds.
    assert time.monotonic() - started < 2


# trusted_regex: matching


@pytest.mark.parametrize(
    ("url", "patterns", "expected"),
    [
        ("https://api.openai.com/v1/x", [r"^https://api\.openai\.com/.*$"], True),
        ("https://api.openai.com/v1/x", [r"https://api\.openai\.com/.*"], True),
        ("https://api.openai.com/v1/x", [r"https://api\.openai\.com"], False),  # whole URL
        ("https://api.openai.com/v1/x", [r"openai"], False),
        ("https://api.openai.com.evil.com/", [r"https://api\.openai\.com/.*"], False),
        ("https://rekognition-fips.x.amazonaws.com", cs.DEFAULT_TRUSTED_ENDPOINTS, True),
        ("http://127.0.0.1:9/v1", [r"^x$", r"^http://127\.0\.0\.1:\d+/.*$"], True),
        ("http://127.0.0.1:9/v1\n", [r"^http://127\.0\.0\.1:\d+/.*$"], False),
        ("http://a/" + "b" * tr.MAX_URL_CHARS, [r"^http://a/.*$"], False),  # too long
        ("http://a/\ud800", [r"^http://a/.*$"], False),  # a lone surrogate is not UTF-8
        ("http://a/", [r"(?=x)", r"^http://a/$"], True),  # an old stored bad pattern is skipped
        ("http://a/", [], False),
    ],
)
def test_is_trusted_is_a_full_match(url, patterns, expected):
    assert tr.is_trusted(url, patterns) is expected


# cluster settings: types


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ([None], "null"),
        (["^a$", 5], "5"),
        ([True], "true"),
        ([1.5], "1.5"),
        ([["^a$"]], '["^a$"]'),
        ([{"a": 1}], '{"a":1}'),
        (5, "5"),
        (False, "false"),
    ],
)
def test_list_setting_refuses_non_string_items(value, shown):
    assert _reason(cs.validate, {REGEX: value}, "persistent") == (
        f"Failed to parse value [{shown}] for setting [{REGEX}]: "
        "every item of this list must be a string"
    )


@pytest.mark.parametrize("value", [" 5", "5 ", "1_0", "\u0663", "5.0", 5.0, "0x10", "", "1e3"])
def test_int_setting_takes_only_ascii_digits(value):
    reason = _reason(cs.validate, {cs.PREFIX + "max_model_on_node": value}, "persistent")
    assert reason == f"Failed to parse value [{value}] for setting [{cs.PREFIX}max_model_on_node]"


@pytest.mark.parametrize(("value", "expected"), [("+5", "+5"), ("-1", "-1"), (7, "7")])
def test_int_setting_takes_a_sign(value, expected):
    assert cs.validate({cs.PREFIX + "max_json_size": value}, "persistent") == {
        cs.PREFIX + "max_json_size": expected
    }


@pytest.mark.parametrize("value", ["99999999999999999999", 2**31, -2])
def test_int_setting_out_of_range_is_refused(value):
    reason = _reason(cs.validate, {cs.PREFIX + "max_json_size": value}, "persistent")
    assert "for setting [plugins.ml_commons.max_json_size]" in reason


@pytest.mark.parametrize(
    ("short", "value"),
    [
        ("only_run_on_ml_node", ["true"]),
        ("only_run_on_ml_node", 1.0),
        ("task_dispatch_policy", ["round_robin"]),
        ("task_dispatch_policy", 5),
        ("max_model_on_node", [3]),
    ],
)
def test_scalar_settings_refuse_lists_and_wrong_kinds(short, value):
    _reason(cs.validate, {cs.PREFIX + short: value}, "persistent")


# request_rules


@pytest.mark.parametrize("name", ["X:A", "X A", "", "X-\u00c9", "A\r\nB", "X\x00", "(x)", "a/b"])
def test_header_names_must_be_http_tokens(name):
    reason = _reason(request_rules.check_header_name, name)
    assert reason == (
        f"Header name {name!r} is not a valid HTTP header name "
        "(letters, digits and !#$%&'*+-.^_`|~ only)"
    )


@pytest.mark.parametrize("name", ["Content-Length", "transfer-encoding", "Connection", "Upgrade"])
def test_framing_headers_belong_to_the_client(name):
    assert "the gateway's HTTP client sets it" in _reason(request_rules.check_header_name, name)


@pytest.mark.parametrize("value", ["a\r\nX-Evil: 1", "a\nb", "a\x00b", "a\tb", "\x7f"])
def test_header_values_with_control_characters_are_refused(value):
    assert _reason(request_rules.check_header_value, value) == request_rules.CONTROL_CHARACTER


def test_header_sizes_are_bounded():
    request_rules.check_headers({"X-A": "v" * 8_000})
    assert "is larger than 8192 bytes" in _reason(request_rules.check_headers, {"X": "v" * 8_200})
    many = {f"X-{n}": "v" * 8_000 for n in range(9)}
    assert "in total" in _reason(request_rules.check_headers, many)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://user:pass@127.0.0.1:9/", request_rules.USERINFO),
        ("http://127.0.0.1:9@evil.com/", request_rules.USERINFO),
        ("http://127.0.0.1:9\\@evil.com/", request_rules.USERINFO),
        ("http://a/ b", request_rules.URI_ERROR),
        ("http://a/\r\nHost: x", request_rules.URI_ERROR),
        ("http://[::1/", request_rules.URI_ERROR),
        ("http://a/" + "b" * tr.MAX_URL_CHARS, request_rules.URL_TOO_LONG),
    ],
)
def test_url_text_rules(url, reason):
    assert _reason(request_rules.check_url_text, url) == reason


@pytest.mark.parametrize("name", ["nope", "rot13", "base64", "undefined", "utf-8\x00", "x" * 5000])
def test_unusable_charsets_are_refused(name):
    assert _reason(request_rules.charset_codec, name) == f"Unsupported charset: {name}"


@pytest.mark.parametrize(
    ("name", "codec"), [(None, "utf-8"), ("UTF8", "utf-8"), ("latin1", "iso8859-1")]
)
def test_usable_charsets(name, codec):
    assert request_rules.charset_codec(name) == codec


# connector create


def _body(**action_overrides: Any) -> dict[str, Any]:
    action = {
        "action_type": "predict",
        "method": "POST",
        "url": "http://${parameters.endpoint}/v1",
        "headers": {"Authorization": "Bearer ${credential.key}"},
        "request_body": '{"p":"${parameters.prompt}"}',
    }
    action.update(action_overrides)
    return {
        "name": "c",
        "version": 1,
        "protocol": "http",
        "parameters": {"endpoint": "127.0.0.1:9"},
        "credential": {"key": "sk"},
        "actions": [action],
    }


LOOPBACK = (r"^http://127\.0\.0\.1:.*$",)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"headers": {"X:Injected": "v"}}, "is not a valid HTTP header name"),
        ({"headers": {"X-A\r\nX-B": "v"}}, "is not a valid HTTP header name"),
        ({"headers": {"X-A": "v\r\nX-B: w"}}, request_rules.CONTROL_CHARACTER),
        ({"headers": {"X-A": "v\x00"}}, request_rules.CONTROL_CHARACTER),
        ({"headers": {"Content-Length": "1"}}, "the gateway's HTTP client sets it"),
        ({"url": "http://u:p@127.0.0.1:9/v1"}, request_rules.USERINFO),
        ({"url": "http://${parameters.endpoint}@evil.com/v1"}, request_rules.USERINFO),
        ({"url": "http://127.0.0.1:9/v 1"}, request_rules.URI_ERROR),
    ],
)
def test_create_refuses_requests_that_can_never_be_sent(change, expected):
    assert expected in _reason(rules.check_actions, _body(**change), LOOPBACK)


@pytest.mark.parametrize(
    ("charset", "template", "expected"),
    [
        ("no-such-charset", '{"p":"x"}', "Unsupported charset: no-such-charset"),
        ("rot13", '{"p":"x"}', "Unsupported charset: rot13"),
        ("ascii", '{"p":"caf\u00e9"}', "charset ascii cannot encode"),
        ("latin-1", '{"p":"\u20ac"}', "charset iso8859-1 cannot encode"),
    ],
)
def test_create_refuses_a_charset_the_body_cannot_use(charset, template, expected):
    body = _body(request_body=template)
    body["parameters"]["charset"] = charset
    assert expected in _reason(rules.check_actions, body, LOOPBACK)


@pytest.mark.parametrize(
    "change",
    [
        {"credential": {"key": None}},
        {"credential": {"key": {"a": 1}}},
        {"credential": {"key": ["a"]}},
        {"version": {"v": 1}},
        {"client_config": {"read_timeout": 2**31}},
        {"client_config": {"connection_timeout": 10**30}},
        {"client_config": {"max_retry_times": -(2**31) - 1}},
    ],
)
def test_schema_refuses_values_that_would_be_stored_wrong(change):
    with pytest.raises(ValidationError):
        load(ConnectorSchema, {**_body(), **change})


def test_scalar_credentials_are_stored_as_text():
    loaded = load(ConnectorSchema, {**_body(), "credential": {"a": 5, "b": True, "c": "s"}})
    assert loaded["credential"] == {"a": 5, "b": True, "c": "s"}
    assert rules._text(True) == "true" and rules._text(5) == "5"


# predict: build_request on hostile parameters


def _model(
    *,
    parameters: dict[str, str] | None = None,
    credential: dict[str, str] | None = None,
    protocol: str = "http",
    **action_overrides: Any,
) -> PreparedModel:
    action = {
        "action_type": "PREDICT",
        "method": "POST",
        "url": "http://${parameters.endpoint}/v1",
        "headers": {"Authorization": "Bearer ${credential.key}", "X-Tenant": "${parameters.t}"},
        "request_body": '{"p":"${parameters.prompt}","m":${parameters.messages}}',
    }
    action.update(action_overrides)
    wire = {
        "name": "c",
        "protocol": protocol,
        "parameters": {"endpoint": "127.0.0.1:9", "t": "a", "messages": "[]", **(parameters or {})},
        "credential": {},
        "actions": [action],
    }
    return PreparedModel(
        generation=1,
        connector=from_wire(wire, Connector),
        credential={"key": "sk-secret"} if credential is None else credential,
    )


def _predict_reason(model: PreparedModel, params: dict[str, Any]) -> str:
    reason = _reason(build_request, model, {"prompt": "hi", **params}, "predict")
    assert "sk-secret" not in reason
    return reason


def test_a_plain_predict_builds():
    out = build_request(_model(), {"prompt": "hi"}, "predict")
    assert out.url == "http://127.0.0.1:9/v1"
    assert json.loads(out.body or b"") == {"p": "hi", "m": []}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"charset": "no-such"}, "Unsupported charset: no-such"),
        ({"charset": "rot13"}, "Unsupported charset: rot13"),
        ({"charset": None}, "Unsupported charset: null"),
        ({"charset": "ascii", "messages": ["caf\u00e9"]}, "charset ascii cannot encode"),
        ({"charset": "latin-1", "messages": ["\u20ac"]}, "charset iso8859-1 cannot encode"),
        ({"messages": ["\ud800"]}, "charset utf-8 cannot encode"),
    ],
)
def test_charset_problems_are_400(params, expected):
    assert expected in _predict_reason(_model(), params)


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("127.0.0.1:9@evil.com", request_rules.USERINFO),
        ("u:p@127.0.0.1:9", request_rules.USERINFO),
        ("127.0.0.1:9\\@evil.com", request_rules.USERINFO),
        ("127.0.0.1:99999", request_rules.URI_ERROR),
        ("127.0.0.1:80:90", request_rules.URI_ERROR),
        ("[::1", request_rules.URI_ERROR),
        ("a..b", request_rules.URI_ERROR),
        ("a" * 64 + ".com", request_rules.URI_ERROR),
        ("", request_rules.URI_ERROR),
        ("x y", request_rules.URI_ERROR),
        ("x\r\nHost: evil", request_rules.URI_ERROR),
        ("a" * tr.MAX_URL_CHARS, request_rules.URL_TOO_LONG),
    ],
)
def test_bad_urls_after_substitution_are_400(endpoint, expected):
    assert _predict_reason(_model(), {"endpoint": endpoint}) == expected


@pytest.mark.parametrize("url", ["ftp://${parameters.endpoint}/", "${parameters.endpoint}/v1"])
def test_non_http_urls_are_400(url):
    assert _predict_reason(_model(url=url), {}) == request_rules.URI_ERROR


@pytest.mark.parametrize("tenant", ["a\r\nX-Evil: 1", "a\nb", "a\x00", "a\tb"])
def test_header_values_after_substitution_are_checked(tenant):
    assert _predict_reason(_model(), {"t": tenant}) == request_rules.CONTROL_CHARACTER


def test_huge_header_value_is_400():
    assert "is larger than 8192 bytes" in _predict_reason(_model(), {"t": "v" * 9_000})


def test_credential_with_control_characters_is_400_without_quoting_it():
    model = _model(credential={"key": "sk-secret\r\nX-Evil: 1"})
    assert _predict_reason(model, {}) == request_rules.CONTROL_CHARACTER


def test_stored_connector_with_a_bad_header_name_or_method_is_400():
    bad_name = _model(headers={"X:Injected": "v"})
    assert "is not a valid HTTP header name" in _predict_reason(bad_name, {})
    assert _predict_reason(_model(method="PATCH"), {}) == "unsupported http method"


def test_sigv4_region_with_control_characters_is_400():
    model = _model(
        protocol="aws_sigv4",
        parameters={"region": "us-east-1\r\nX-Evil: 1", "service_name": "s"},
        credential={"access_key": "AKID", "secret_key": "sk-secret"},
        headers={},
    )
    assert _predict_reason(model, {}) == request_rules.CONTROL_CHARACTER


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_text_in_a_parameter_is_not_a_crash(depth):
    # A string parameter holding JSON nested too deep for the parser: not spliced, escaped.
    out = build_request(_model(), {"prompt": "[" * depth + "]" * depth}, "predict")
    assert json.loads(out.body or b"")["p"] == "[" * depth + "]" * depth


def test_deeply_nested_raw_payload_is_invalid_payload():
    model = _model(request_body="${parameters.raw}", headers={})
    reason = _predict_reason(
        model, {"raw": "[" * 100_000 + "]" * 100_000, "no_escape_params": "raw"}
    )
    assert reason.startswith("Invalid payload")


def test_exponential_parameter_expansion_is_refused_before_it_is_built():
    # l0 would be 64**5 copies of l5: a terabyte, refused at 32 MiB.
    params = {f"l{n}": f"${{parameters.l{n + 1}}}" * 64 for n in range(5)}
    params["l5"] = "x" * 1_000
    params["prompt"] = "${parameters.l0}"
    started = time.monotonic()
    reason = _predict_reason(_model(), params)
    assert reason.startswith("Invalid payload") or "too large" in reason
    assert time.monotonic() - started < 5


def test_many_unclosed_placeholders_are_scanned_linearly():
    model = _model(request_body='["${parameters.prompt}"]', headers={})
    prompt = "${parameters." * 50_000
    started = time.monotonic()
    out = build_request(model, {"prompt": prompt}, "predict")
    assert out.body is not None
    assert time.monotonic() - started < 5


def _reference_escape(text: str) -> str:
    """commons-text escapeJson one character at a time (the former implementation)."""
    table = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f"}
    table.update({"\n": "\\n", "\r": "\\r", "\t": "\\t"})
    out = []
    for char in text:
        if char in table:
            out.append(table[char])
        elif " " <= char <= "~":
            out.append(char)
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04X}")
        else:
            code = ord(char) - 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}")
    return "".join(out)


@pytest.mark.parametrize(
    "text",
    [
        'plain ascii / with "quotes" and \\',
        "Mo\u00ebt \u20ac\u4e2d",
        "\x00\x1f\x7f\t\n",
        "\U0001f600\ud800",
    ],
)
def test_escape_json_fast_paths_match_the_reference(text):
    assert tpl.escape_json(text * 3) == _reference_escape(text * 3)

"""Tests for workers.remote.outcome on hostile answers: quoting, nesting, strict JSON."""

from __future__ import annotations

import json

import pytest

from common.errors import RemoteModelError
from workers.remote.http import ECHO_CHARS, Answer, quote
from workers.remote.outcome import inference_result, inference_results_body


def shaped(answer: Answer) -> dict[str, object]:
    body = json.loads(inference_results_body([inference_result(answer)]))
    return dict(body["inference_results"][0]["output"][0]["dataAsMap"])


def failure(answer: Answer) -> RemoteModelError:
    with pytest.raises(RemoteModelError) as caught:
        inference_result(answer)
    return caught.value


@pytest.mark.parametrize(
    ("text", "cut", "quoted"),
    [
        ("short", False, "short"),
        ("short", True, "short..."),  # only a prefix was read
        ("x" * ECHO_CHARS, False, "x" * ECHO_CHARS),
        ("x" * (ECHO_CHARS + 1), False, "x" * ECHO_CHARS + "..."),
    ],
)
def test_quote_bounds_upstream_text(text: str, cut: bool, quoted: str) -> None:
    assert quote(text, cut=cut) == quoted


@pytest.mark.parametrize("status", [400, 500, 999, 302])
def test_large_error_bodies_are_quoted_not_relayed(status: int) -> None:
    reason = failure(Answer(status, "e" * 1_000_000)).reason
    assert reason.endswith("e" * 10 + "...") and len(reason) < ECHO_CHARS + 100


@pytest.mark.parametrize("depth", [101, 999, 1000, 10_000, 200_000])
def test_deep_json_is_a_502_not_a_crash(depth: int) -> None:
    for body in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        error = failure(Answer(200, body))
        assert error.status == 502
        assert error.reason == "Remote service response nests deeper than 100 levels"


def test_json_at_the_depth_bound_and_many_brackets_in_strings_are_fine() -> None:
    assert shaped(Answer(200, '{"a":' * 99 + "[1]" + "}" * 99))["a"]
    assert shaped(Answer(200, json.dumps({"text": "[" * 5000}))) == {"text": "[" * 5000}


@pytest.mark.parametrize(
    "body",
    [
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": 1e999}',
        '"\\ud800"',
        '{"a": 1',
        "\x00\x01",
    ],
)
def test_what_strict_json_refuses_is_served_as_text(body: str) -> None:
    assert shaped(Answer(200, body)) == {"response": body}
    # and the predict body stays valid JSON (no NaN, no lone surrogate)
    json.loads(inference_results_body([inference_result(Answer(200, body))]))


def test_response_filter_picking_a_deep_json_string_is_bounded() -> None:
    inner = "[" * 500 + "]" * 500
    answer = Answer(200, json.dumps({"inner": inner}))
    with pytest.raises(RemoteModelError, match="nests deeper than 100"):
        inference_result(answer, response_filter="$.inner")

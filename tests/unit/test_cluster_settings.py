"""Tests for common.cluster_settings: the plugins.ml_commons.* settings (spec 1 and 1.1)."""

from __future__ import annotations

from typing import Any

import pytest

from common import cluster_settings as cs
from common.errors import IllegalArgumentError
from common.trusted_regex import is_trusted

P = cs.PREFIX


def _one(name: str, value: Any, scope: str = "persistent") -> Any:
    return cs.validate({name: value}, scope)[name]


def _reason(name: str, value: Any, scope: str = "persistent") -> str:
    with pytest.raises(IllegalArgumentError) as caught:
        cs.validate({name: value}, scope)
    assert caught.value.status == 400
    return caught.value.reason


# flatten


@pytest.mark.parametrize(
    "body",
    [
        {"plugins": {"ml_commons": {"connector": {"private_ip_enabled": True}}}},
        {"plugins.ml_commons": {"connector.private_ip_enabled": True}},
        {"plugins": {"ml_commons.connector.private_ip_enabled": True}},
        {"plugins.ml_commons.connector.private_ip_enabled": True},
    ],
)
def test_flatten_accepts_nested_and_dotted_forms(body):
    flat = cs.flatten(body, "persistent")
    assert flat == {"plugins.ml_commons.connector.private_ip_enabled": True}


def test_flatten_keeps_lists_and_nulls_as_leaves():
    body = {
        "plugins": {
            "ml_commons": {
                "trusted_connector_endpoints_regex": ["^a$", "^b$"],
                "only_run_on_ml_node": None,
            }
        }
    }
    assert cs.flatten(body, "transient") == {
        P + "trusted_connector_endpoints_regex": ["^a$", "^b$"],
        P + "only_run_on_ml_node": None,
    }


@pytest.mark.parametrize("body", [[1], "text", 3, None])
def test_flatten_refuses_a_non_object(body):
    with pytest.raises(IllegalArgumentError, match="^persistent settings must be an object$"):
        cs.flatten(body, "persistent")


# validate: names


@pytest.mark.parametrize("scope", ["persistent", "transient"])
def test_unknown_plugin_setting_is_not_recognized(scope):
    reason = _reason(P + "foo", "1", scope)
    assert reason == f"{scope} setting [plugins.ml_commons.foo], not recognized"


@pytest.mark.parametrize("name", ["cluster.routing.allocation.enable", "plugins.other.x", "foo"])
def test_non_plugin_setting_is_refused(name):
    assert _reason(name, "x") == f"persistent setting [{name}], not recognized"


def test_one_bad_name_refuses_the_whole_batch():
    with pytest.raises(IllegalArgumentError, match="foo"):
        cs.validate({P + "only_run_on_ml_node": True, P + "foo": 1}, "persistent")


# validate: booleans


@pytest.mark.parametrize(
    ("value", "expected"), [(True, "true"), (False, "false"), ("true", "true"), ("false", "false")]
)
def test_bool_is_normalised_to_a_string(value, expected):
    assert _one(P + "connector.private_ip_enabled", value) == expected


@pytest.mark.parametrize("value", ["abc", "TRUE", "yes", "1", 1, 0, ""])
def test_bad_bool_is_refused(value):
    reason = _reason(P + "connector.private_ip_enabled", value)
    assert reason == f"Failed to parse value [{value}] as only [true] or [false] are allowed."


def test_bool_refuses_a_list():
    with pytest.raises(IllegalArgumentError, match="a single value is expected"):
        cs.validate({P + "only_run_on_ml_node": [True]}, "persistent")


# validate: integers


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("max_model_on_node", 0, "0"),
        ("max_model_on_node", 10000, "10000"),
        ("max_model_on_node", "25", "25"),
        ("sync_up_job_interval_in_seconds", 86400, "86400"),
        ("native_memory_threshold", 100, "100"),
        ("jvm_heap_memory_threshold", 0, "0"),
    ],
)
def test_int_in_range_is_kept_as_a_string(name, value, expected):
    assert _one(P + name, value) == expected


@pytest.mark.parametrize(
    ("name", "value", "bound"),
    [
        ("max_model_on_node", -1, ">= 0"),
        ("max_model_on_node", 10001, "<= 10000"),
        ("native_memory_threshold", 101, "<= 100"),
        ("sync_up_job_interval_in_seconds", "-5", ">= 0"),
    ],
)
def test_int_out_of_range_is_refused(name, value, bound):
    assert _reason(P + name, value) == (
        f"Failed to parse value [{value}] for setting [{P + name}] must be {bound}"
    )


@pytest.mark.parametrize("value", ["abc", "1.5", 1.5, True])
def test_int_not_a_number_is_refused(value):
    text = "true" if value is True else str(value)
    reason = _reason(P + "max_model_on_node", value)
    assert reason == f"Failed to parse value [{text}] for setting [{P}max_model_on_node]"


# validate: choices


@pytest.mark.parametrize("value", ["round_robin", "least_load"])
def test_choice_accepts_known_values(value):
    assert _one(P + "task_dispatch_policy", value) == value


def test_choice_refuses_unknown_values():
    assert _reason(P + "task_dispatch_policy", "random") == (
        f"Failed to parse value [random] for setting [{P}task_dispatch_policy]"
    )


# validate: regex lists

REGEX = P + "trusted_connector_endpoints_regex"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["^https://a\\.com/.*$", "^.*$"], ["^https://a\\.com/.*$", "^.*$"]),
        ("^.*$", ["^.*$"]),
        ([], []),
    ],
)
def test_regex_list_is_kept_as_a_list_of_strings(value, expected):
    assert _one(REGEX, value) == expected


@pytest.mark.parametrize("pattern", ["(", "[a-", "*abc", "a{2,1}"])
def test_invalid_regex_is_refused(pattern):
    assert _reason(REGEX, ["^ok$", pattern]) == f"Invalid regex pattern: {pattern}"


def test_regex_over_256_chars_is_refused():
    pattern = "a" * 257
    assert _reason(REGEX, [pattern]) == f"Regex pattern too long (max 256 chars): {pattern}"


def test_regex_of_exactly_256_chars_is_accepted():
    pattern = "a" * 256
    assert _one(REGEX, [pattern]) == [pattern]


# validate: reset


@pytest.mark.parametrize(
    "short", ["only_run_on_ml_node", "max_model_on_node", "trusted_connector_endpoints_regex"]
)
def test_null_is_kept_as_a_reset(short):
    assert cs.validate({P + short: None}, "transient") == {P + short: None}


def test_validate_returns_every_given_name():
    flat = {P + "only_run_on_ml_node": False, P + "max_model_on_node": 3, REGEX: ["^x$"]}
    assert cs.validate(flat, "persistent") == {
        P + "only_run_on_ml_node": "false",
        P + "max_model_on_node": "3",
        REGEX: ["^x$"],
    }


# effective


def test_effective_defaults():
    settings = cs.effective({}, {})
    assert settings.only_run_on_ml_node is True
    assert settings.private_ip_enabled is False
    assert settings.auto_deploy is True
    assert settings.remote_inference_enabled is True
    assert settings.connector_access_control is False
    assert settings.model_access_control is False
    assert len(settings.trusted_endpoints) == 12
    assert "^https://api\\.openai\\.com/.*$" in settings.trusted_endpoints
    assert isinstance(settings.trusted_endpoints, tuple)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openai.com/v1/chat/completions",
        "https://api.cohere.ai/v1/embed",
        "https://runtime.sagemaker.us-west-2.amazonaws.com/endpoints/e/invocations",
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke",
        "https://textract.us-east-1.amazonaws.com",
    ],
)
def test_default_trusted_list_covers_known_providers(url):
    assert is_trusted(url, cs.effective({}, {}).trusted_endpoints)


@pytest.mark.parametrize(
    "url", ["https://api.cohere.com/v1/embed", "http://api.openai.com/v1/x", "https://evil.com/"]
)
def test_default_trusted_list_refuses_others(url):
    assert not is_trusted(url, cs.effective({}, {}).trusted_endpoints)


@pytest.mark.parametrize(
    ("persistent", "transient", "expected"),
    [
        ({}, {}, False),
        ({"connector.private_ip_enabled": "true"}, {}, True),
        ({}, {"connector.private_ip_enabled": "true"}, True),
        (
            {"connector.private_ip_enabled": "true"},
            {"connector.private_ip_enabled": "false"},
            False,
        ),
        ({"connector.private_ip_enabled": "false"}, {"connector.private_ip_enabled": "true"}, True),
        ({"connector.private_ip_enabled": True}, {}, True),
    ],
)
def test_effective_transient_over_persistent_over_default(persistent, transient, expected):
    settings = cs.effective(
        {P + k: v for k, v in persistent.items()}, {P + k: v for k, v in transient.items()}
    )
    assert settings.private_ip_enabled is expected


def test_effective_reads_each_field_from_its_own_setting():
    persistent = {
        P + "only_run_on_ml_node": "false",
        P + "model_auto_deploy.enable": "false",
        P + "remote_inference.enabled": "false",
        P + "connector_access_control_enabled": "true",
        P + "model_access_control_enabled": "true",
        P + "max_json_size": "-1",
        REGEX: ["^x$"],
    }
    settings = cs.effective(persistent, {})
    assert settings == cs.ClusterSettings(
        trusted_endpoints=("^x$",),
        only_run_on_ml_node=False,
        auto_deploy=False,
        private_ip_enabled=False,
        remote_inference_enabled=False,
        connector_access_control=True,
        model_access_control=True,
        max_json_size=-1,
        sync_up_interval_s=10,
    )


def test_effective_transient_list_replaces_persistent_list():
    settings = cs.effective({REGEX: ["^p$"]}, {REGEX: ["^t$", "^u$"]})
    assert settings.trusted_endpoints == ("^t$", "^u$")


# nest and defaults


def test_nest_builds_the_opensearch_shape():
    flat = {
        P + "connector.private_ip_enabled": "true",
        P + "only_run_on_ml_node": "false",
        REGEX: ["^a$"],
    }
    assert cs.nest(flat) == {
        "plugins": {
            "ml_commons": {
                "connector": {"private_ip_enabled": "true"},
                "only_run_on_ml_node": "false",
                "trusted_connector_endpoints_regex": ["^a$"],
            }
        }
    }


def test_nest_of_nothing_is_empty():
    assert cs.nest({}) == {}


def test_nest_inverts_flatten():
    flat = cs.validate(
        {P + "model_auto_deploy.enable": False, P + "max_model_on_node": 4, REGEX: "^z$"},
        "persistent",
    )
    assert cs.flatten(cs.nest(flat), "persistent") == flat


def test_defaults_are_echoed_as_strings():
    defaults = cs.defaults()
    assert set(defaults) == {P + short for short in cs.DEFINITIONS}
    assert defaults[P + "only_run_on_ml_node"] == "true"
    assert defaults[P + "connector.private_ip_enabled"] == "false"
    assert defaults[P + "max_model_on_node"] == "10"
    assert defaults[P + "task_dispatch_policy"] == "least_load"  # decision 0006
    assert defaults[REGEX] == cs.DEFAULT_TRUSTED_ENDPOINTS


@pytest.mark.parametrize("pattern", ["^(a+)+$", "(a)\\1", "^(ab|a*)*$", "(?:x*)+"])
def test_redos_prone_patterns_are_refused(pattern: str) -> None:
    name = "plugins.ml_commons.trusted_connector_endpoints_regex"
    with pytest.raises(IllegalArgumentError) as error:
        cs.validate({name: [pattern]}, "persistent")
    assert error.value.reason == (
        "Regex pattern contains nested quantifiers or backreferences that may cause ReDoS: "
        + pattern
    )


def test_default_and_common_patterns_pass_the_redos_check() -> None:
    name = "plugins.ml_commons.trusted_connector_endpoints_regex"
    patterns = [*cs.DEFAULT_TRUSTED_ENDPOINTS, "^.*$", "^http://127\\.0\\.0\\.1:.*$", "(a|b)+"]
    assert cs.validate({name: patterns}, "persistent") == {name: patterns}

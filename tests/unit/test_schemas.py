"""Request schemas: what they accept, what they drop, and the errors they raise."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import ValidationError

from api.schemas import (
    ClusterSettingsSchema,
    ConnectorSchema,
    PredictSchema,
    RegisterModelSchema,
    UndeploySchema,
    load,
)

ACTION = {"action_type": "predict", "method": "POST", "url": "https://x/y"}


def test_connector_keeps_known_fields_and_drops_unknown() -> None:
    body = {
        "name": "c",
        "version": 1,
        "protocol": "http",
        "parameters": {"n": 7},
        "credential": {"k": "v"},
        "actions": [ACTION],
        "surprise": True,
    }
    loaded = load(ConnectorSchema, body)
    assert "surprise" not in loaded
    assert loaded["version"] == 1 and loaded["parameters"] == {"n": 7}
    assert loaded["actions"][0]["action_type"] == "predict"


def test_connector_absent_fields_stay_absent() -> None:
    loaded = load(ConnectorSchema, {"name": "c"})
    assert loaded == {"name": "c"}


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"method": "POST", "url": "u"}, "action type can't be null"),
        ({"action_type": "predict", "method": "POST"}, "url can't be null"),
        ({"action_type": "predict", "url": "u"}, "method can't be null"),
        (
            {**ACTION, "action_type": "train"},
            "No enum constant org.opensearch.ml.common.connector.ConnectorAction.ActionType.TRAIN",
        ),
        ({**ACTION, "method": "PATCH"}, "unsupported http method"),
    ],
)
def test_action_errors_use_ml_commons_words(action: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        load(ConnectorSchema, {"actions": [action]})
    assert message in str(error.value.messages)


def test_wrong_types_are_rejected() -> None:
    with pytest.raises(ValidationError) as error:
        load(ConnectorSchema, {"name": 5, "parameters": []})
    assert set(error.value.messages) == {"name", "parameters"}
    with pytest.raises(ValidationError):
        load(ConnectorSchema, {"client_config": {"max_connection": 0}})


def test_register_model_with_inline_connector() -> None:
    loaded = load(
        RegisterModelSchema,
        {
            "name": "m",
            "function_name": "remote",
            "connector": {"protocol": "http", "actions": [ACTION]},
            "deploy_setting": {"is_auto_deploy_enabled": False},
        },
    )
    assert loaded["connector"]["protocol"] == "http"
    assert loaded["deploy_setting"] == {"is_auto_deploy_enabled": False}


def test_predict_defaults_and_parameters_must_be_an_object() -> None:
    assert load(PredictSchema, {}) == {"parameters": {}, "action_type": "predict"}
    with pytest.raises(ValidationError):
        load(PredictSchema, {"parameters": ["not", "an", "object"]})


def test_undeploy_and_cluster_settings_defaults() -> None:
    assert load(UndeploySchema, {"model_ids": ["a"]})["model_ids"] == ["a"]
    assert load(ClusterSettingsSchema, {}) == {"persistent": {}, "transient": {}}
    with pytest.raises(ValidationError):
        load(ClusterSettingsSchema, {"persistent": "x"})


def test_a_shared_schema_gives_each_load_its_own_defaults() -> None:
    first = load(PredictSchema, {})
    first["parameters"]["leak"] = "x"
    assert load(PredictSchema, {})["parameters"] == {}

"""Marshmallow schemas for request bodies, with ML Commons field names."""

from __future__ import annotations

from functools import cache
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from common.records import TIME_UNITS
from common.request_rules import METHODS

ACTION_TYPES = (
    "predict",
    "execute",
    "batch_predict",
    "cancel_batch_predict",
    "batch_predict_status",
)


# ML Commons reads client_config's numbers as Java ints; larger ones are not numbers it has.
JAVA_INT = validate.Range(min=-(2**31), max=2**31 - 1)


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE  # ML Commons ignores unknown fields


class Scalar(fields.Raw):
    """A string, number or boolean, kept as given; null, objects and arrays are refused."""

    default_error_messages = {"invalid": "must be a string, a number or a boolean"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str | int | float | bool):
            raise self.make_error("invalid")
        return value


class ActionSchema(_Lenient):
    action_type = fields.String(load_default=None)
    method = fields.String(load_default=None)
    url = fields.String(load_default=None)
    headers = fields.Dict(keys=fields.String(), values=fields.String(), load_default=None)
    request_body = fields.String(load_default=None, allow_none=True)
    pre_process_function = fields.String(load_default=None, allow_none=True)
    post_process_function = fields.String(load_default=None, allow_none=True)

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        # Same order and words as ConnectorAction.parse.
        if data.get("action_type") is None:
            raise ValidationError("action type can't be null")
        if data["action_type"].lower() not in ACTION_TYPES:
            raise ValidationError(
                "No enum constant org.opensearch.ml.common.connector.ConnectorAction.ActionType."
                + data["action_type"].upper()
            )
        if data.get("url") is None:
            raise ValidationError("url can't be null")
        if data.get("method") is None:
            raise ValidationError("method can't be null")
        if data["method"].upper() not in METHODS:
            raise ValidationError("unsupported http method")


class ClientConfigSchema(_Lenient):
    max_connection = fields.Integer(validate=[validate.Range(min=1), JAVA_INT])
    connection_timeout = fields.Integer(validate=[validate.Range(min=0), JAVA_INT])
    read_timeout = fields.Integer(validate=[validate.Range(min=0), JAVA_INT])
    retry_backoff_millis = fields.Integer(validate=JAVA_INT)
    retry_timeout_seconds = fields.Integer(validate=JAVA_INT)
    max_retry_times = fields.Integer(validate=JAVA_INT)
    retry_backoff_policy = fields.String(
        validate=validate.OneOf(["constant", "exponential_equal_jitter", "exponential_full_jitter"])
    )
    skip_ssl_verification = fields.Boolean()


class ConnectorSchema(_Lenient):
    name = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    version = Scalar(allow_none=True)
    protocol = fields.String(allow_none=True)
    parameters = fields.Dict(keys=fields.String(), allow_none=True)
    # A credential is text; null or a nested value would be stored as Python's "None"/"{...}".
    credential = fields.Dict(keys=fields.String(), values=Scalar(), allow_none=True)
    actions = fields.List(fields.Nested(ActionSchema), allow_none=True)
    backend_roles = fields.List(fields.String(), allow_none=True)
    add_all_backend_roles = fields.Boolean(allow_none=True)
    access_mode = fields.String(allow_none=True)
    client_config = fields.Nested(ClientConfigSchema, allow_none=True)


class ModelGroupSchema(_Lenient):
    name = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    backend_roles = fields.List(fields.String(), allow_none=True)
    add_all_backend_roles = fields.Boolean(allow_none=True)
    access_mode = fields.String(allow_none=True)


class DeploySettingSchema(_Lenient):
    is_auto_deploy_enabled = fields.Boolean()
    model_ttl_minutes = fields.Integer()


def _check_limit(limit: Any) -> None:
    try:
        number = float(str(limit))
    except ValueError:
        number = -1.0
    if not 0 <= number < float("inf"):
        raise ValidationError("Limit field must be a positive number.")


def _check_unit(unit: Any) -> None:
    if str(unit).upper() not in TIME_UNITS:
        raise ValidationError(f"Unit must be one of {', '.join(TIME_UNITS)}, got [{unit}]")


class RateLimiterSchema(_Lenient):
    """`{"limit": "4", "unit": "MINUTES"}`; limit is kept as the string ML Commons stores."""

    limit = Scalar(required=True)
    unit = fields.String(required=True)

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        _check_limit(data["limit"])
        _check_unit(data["unit"])


class RateLimiterUpdateSchema(_Lenient):
    """A rate_limiter in a model update: either field may be left out to keep the stored one."""

    limit = Scalar()
    unit = fields.String()

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        if "limit" in data:
            _check_limit(data["limit"])
        if "unit" in data:
            _check_unit(data["unit"])


class ControllerSchema(_Lenient):
    """POST|PUT controllers/{model_id}: `{"user_rate_limiter": {"<user>": {limit, unit}}}`."""

    user_rate_limiter = fields.Dict(
        keys=fields.String(), values=fields.Nested(RateLimiterUpdateSchema), load_default=dict
    )


class RegisterModelSchema(_Lenient):
    name = fields.String(allow_none=True)
    function_name = fields.String(allow_none=True)
    model_group_id = fields.String(allow_none=True)
    version = fields.Raw(allow_none=True)
    description = fields.String(allow_none=True)
    connector_id = fields.String(allow_none=True)
    connector = fields.Nested(ConnectorSchema, allow_none=True)
    is_enabled = fields.Boolean(allow_none=True)
    rate_limiter = fields.Nested(RateLimiterSchema, allow_none=True)
    deploy_setting = fields.Nested(DeploySettingSchema, allow_none=True)
    interface = fields.Dict(allow_none=True)
    backend_roles = fields.List(fields.String(), allow_none=True)
    add_all_backend_roles = fields.Boolean(allow_none=True)
    access_mode = fields.String(allow_none=True)


class ConnectorUpdateSchema(ConnectorSchema):
    """PUT connectors/{id}: the create fields, none required (ML Commons' updateConnector=true)."""


class ModelGroupUpdateSchema(ModelGroupSchema):
    """PUT model_groups/{id}: name and description; access fields are refused later."""


class ModelUpdateSchema(_Lenient):
    """PUT models/{id}: the fields ML Commons' MLUpdateModelInput reads that modelgate keeps."""

    name = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    model_group_id = fields.String(allow_none=True)
    is_enabled = fields.Boolean(allow_none=True)
    rate_limiter = fields.Nested(RateLimiterUpdateSchema, allow_none=True)
    model_config = fields.Dict(keys=fields.String(), allow_none=True)
    deploy_setting = fields.Nested(DeploySettingSchema, allow_none=True)
    connector_id = fields.String(allow_none=True)
    connector = fields.Nested(ConnectorUpdateSchema, allow_none=True)
    interface = fields.Dict(allow_none=True)


class DeploySchema(_Lenient):
    node_ids = fields.List(fields.String(), load_default=None)


class PredictSchema(_Lenient):
    parameters = fields.Dict(keys=fields.String(), load_default=dict)
    action_type = fields.String(load_default="predict")
    text_docs = fields.List(fields.String(), validate=validate.Length(min=1), load_default=None)
    query_text = fields.String(load_default=None)  # text_similarity input (rerank models)


class UndeploySchema(_Lenient):
    model_ids = fields.List(fields.String(), load_default=None)
    node_ids = fields.List(fields.String(), load_default=None)


class ClusterSettingsSchema(_Lenient):
    persistent = fields.Dict(load_default=dict)
    transient = fields.Dict(load_default=dict)


def load(schema_class: type[Schema], body: Any) -> dict[str, Any]:
    """Validate body against a schema; marshmallow errors reach the one error handler."""
    result = _instance(schema_class).load(body if body is not None else {})
    assert isinstance(result, dict)
    return {k: v for k, v in result.items() if not (v is None and k not in body)}


@cache
def _instance(schema_class: type[Schema]) -> Schema:
    # Building a schema costs more than loading a small body with it (about 9% of the API's
    # CPU per predict when built per request); loading with one shared instance is safe.
    return schema_class()

"""Tests for workers.remote.outcome and workers.remote.connector (spec 8.2-8.6 and 9)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.errors import IllegalArgumentError, RemoteModelError
from common.records import Connector, from_wire
from workers.model_cache import PreparedModel
from workers.remote.connector import build_request, find_action
from workers.remote.http import Answer
from workers.remote.outcome import inference_result, inference_results_body


def to_inference_results(answer: Answer, **shaping: Any) -> str:
    """The predict body for one remote answer, as workers/predict.py builds it."""
    return inference_results_body([inference_result(answer, **shaping)])


# to_inference_results (spec 8.6, 8.7)


def test_json_object_body_becomes_data_as_map():
    body = '{"choices":[{"text":"hi"}],"usage":{"total_tokens":3}}'
    result = to_inference_results(Answer(200, body))
    assert json.loads(result) == {
        "inference_results": [
            {
                "output": [
                    {
                        "name": "response",
                        "dataAsMap": {"choices": [{"text": "hi"}], "usage": {"total_tokens": 3}},
                    }
                ],
                "status_code": 200,
            }
        ]
    }


def test_output_is_compact_and_keeps_key_order_and_non_ascii():
    result = to_inference_results(Answer(200, '{"b":1,"a":"Moët"}'))
    assert result == (
        '{"inference_results":[{"output":[{"name":"response","dataAsMap":{"b":1,"a":"Moët"}}],'
        '"status_code":200}]}'
    )


@pytest.mark.parametrize(
    ("body", "data"),
    [
        ("[[0.1,0.2],[0.3]]", {"response": [[0.1, 0.2], [0.3]]}),
        ("[]", {"response": []}),
        ("plain text answer", {"response": "plain text answer"}),
        ("{not json", {"response": "{not json"}),
        ('"a json string"', {"response": "a json string"}),
        ("42", {"response": 42}),
    ],
)
def test_non_object_bodies_are_wrapped_in_response(body, data):
    result = json.loads(to_inference_results(Answer(200, body)))
    assert result["inference_results"][0]["output"] == [{"name": "response", "dataAsMap": data}]


@pytest.mark.parametrize("status", [200, 201, 204, 299, 300])
def test_success_range_is_200_to_300_and_status_code_is_echoed(status):
    result = json.loads(to_inference_results(Answer(status, "{}")))
    assert result["inference_results"][0]["status_code"] == status


@pytest.mark.parametrize("body", ["", "   ", "\n"])
def test_empty_success_body_is_a_502(body):
    with pytest.raises(RemoteModelError) as caught:
        to_inference_results(Answer(200, body))
    assert caught.value.status == 502
    assert caught.value.reason == "Remote service returned empty response body"
    assert caught.value.error_type == "status_exception"


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 503, 599])
def test_error_status_with_body_keeps_status_and_body(status):
    body = '{"error":{"message":"Incorrect API key provided"}}'
    with pytest.raises(RemoteModelError) as caught:
        to_inference_results(Answer(status, body))
    assert caught.value.status == status
    assert caught.value.reason == f"Error from remote service: {body}"
    assert caught.value.error_type == "status_exception"


@pytest.mark.parametrize(
    ("status", "what"),
    [
        (301, "redirect status 301, which is not followed"),
        (399, "redirect status 399, which is not followed"),
        (199, "invalid HTTP status 199"),
        (101, "invalid HTTP status 101"),
        (600, "invalid HTTP status 600"),
        (999, "invalid HTTP status 999"),
        (0, "invalid HTTP status 0"),
    ],
)
def test_statuses_http_cannot_relay_are_a_502_naming_them(status, what):
    with pytest.raises(RemoteModelError) as caught:
        to_inference_results(Answer(status, '{"e":1}'))
    assert caught.value.status == 502
    assert caught.value.reason == f'Remote service answered with {what}: {{"e":1}}'
    with pytest.raises(RemoteModelError) as empty:
        to_inference_results(Answer(status, ""))
    assert empty.value.reason == f"Remote service answered with {what}"


@pytest.mark.parametrize(("status", "body"), [(500, ""), (401, "  "), (404, "\n")])
def test_error_status_with_empty_body(status, body):
    with pytest.raises(RemoteModelError) as caught:
        to_inference_results(Answer(status, body))
    assert caught.value.status == status
    assert caught.value.reason == f"Remote service returned error status {status} with empty body"


# build_request: http


def _model(
    *,
    protocol: str = "http",
    parameters: dict[str, str] | None = None,
    actions: list[dict[str, Any]] | None = None,
    credential: dict[str, str] | None = None,
    client_config: dict[str, Any] | None = None,
) -> PreparedModel:
    connector: dict[str, Any] = {
        "name": "c",
        "protocol": protocol,
        "parameters": {"endpoint": "api.openai.com", "model": "gpt-base"}
        if parameters is None
        else parameters,
        "actions": [_action()] if actions is None else actions,
    }
    if client_config is not None:
        connector["client_config"] = client_config
    return PreparedModel(
        generation=1,
        connector=_connector(connector),
        credential={"key": "sk-secret"} if credential is None else credential,
    )


def _connector(wire: dict[str, Any]) -> Connector:
    """Build the typed connector; action types are stored upper-case, as build_document does."""
    actions = [{**a, "action_type": a["action_type"].upper()} for a in wire["actions"]]
    defaults = {"protocol": "http", "parameters": {}, "credential": {}}
    return from_wire({**defaults, **wire, "actions": actions}, Connector)


def _action(**overrides: Any) -> dict[str, Any]:
    action: dict[str, Any] = {
        "action_type": "PREDICT",
        "method": "POST",
        "url": "https://${parameters.endpoint}/v1/${parameters.model}/run",
        "headers": {"Authorization": "Bearer ${credential.key}"},
        "request_body": '{"model":"${parameters.model}","prompt":"${parameters.prompt}"}',
    }
    action.update(overrides)
    return action


def _header(headers: dict[str, str], name: str) -> list[str]:
    return [value for key, value in headers.items() if key.lower() == name.lower()]


def test_build_request_fills_url_headers_and_body():
    out = build_request(_model(), {"prompt": "hello"}, "predict")
    assert out.method == "POST"
    assert out.url == "https://api.openai.com/v1/gpt-base/run"
    assert out.headers == {"Authorization": "Bearer sk-secret", "Content-Type": "application/json"}
    assert out.body == b'{"model":"gpt-base","prompt":"hello"}'
    assert (out.connect_timeout, out.read_timeout) == (30.0, 30.0)


def test_request_parameters_override_connector_parameters():
    out = build_request(_model(), {"model": "gpt-4", "prompt": "p"}, "PREDICT")
    assert out.url == "https://api.openai.com/v1/gpt-4/run"
    assert json.loads(out.body or b"") == {"model": "gpt-4", "prompt": "p"}


def test_request_parameters_are_escaped_in_body_but_raw_in_url():
    params = {"model": "org/model", "prompt": 'say "hi"\n'}
    out = build_request(_model(), params, "predict")
    assert out.url == "https://api.openai.com/v1/org/model/run"
    assert out.body == b'{"model":"org\\/model","prompt":"say \\"hi\\"\\n"}'
    assert json.loads(out.body) == params


def test_connector_parameters_are_not_escaped():
    parameters = {"endpoint": "api.openai.com", "model": "m", "stop": '["/"]', "q": "a/b"}
    action = _action(request_body='{"s":${parameters.stop},"q":"${parameters.q}"}')
    out = build_request(_model(parameters=parameters, actions=[action]), {}, "predict")
    assert out.body == b'{"s":["/"],"q":"a/b"}'


def test_request_list_parameter_is_spliced_raw():
    action = _action(request_body='{"model":"${parameters.model}","input":${parameters.texts}}')
    out = build_request(_model(actions=[action]), {"texts": ["a/b", "c"]}, "predict")
    assert json.loads(out.body or b"") == {"model": "gpt-base", "input": ["a/b", "c"]}


def test_non_ascii_request_parameter_is_unicode_escaped():
    out = build_request(_model(), {"prompt": "Moët"}, "predict")
    assert out.body == b'{"model":"gpt-base","prompt":"Mo\\u00EBt"}'


def test_existing_content_type_is_kept():
    action = _action(headers={"content-type": "text/plain; charset=utf-8"})
    out = build_request(_model(actions=[action]), {"prompt": "p"}, "predict")
    assert out.headers == {"content-type": "text/plain; charset=utf-8"}


def test_header_parameter_is_filled_from_raw_request_parameters():
    action = _action(headers={"X-Model": "${parameters.model}"})
    out = build_request(_model(actions=[action]), {"model": "a/b", "prompt": "p"}, "predict")
    assert _header(out.headers, "X-Model") == ["a/b"]


def test_unresolved_header_parameter_is_refused():
    action = _action(headers={"X-Tenant": "${parameters.tenant}"})
    with pytest.raises(IllegalArgumentError, match="Header 'X-Tenant' contains unresolved"):
        build_request(_model(actions=[action]), {"prompt": "p"}, "predict")


def test_credential_in_body_template_is_filled_escaped():
    action = _action(request_body='{"key":"${credential.key}","prompt":"${parameters.prompt}"}')
    model = _model(actions=[action], credential={"key": 'k"/1'})
    out = build_request(model, {"prompt": "p"}, "predict")
    assert json.loads(out.body or b"") == {"key": 'k"/1', "prompt": "p"}


def test_missing_body_parameter_is_refused():
    with pytest.raises(IllegalArgumentError) as caught:
        build_request(_model(), {}, "predict")
    assert caught.value.reason == "Some parameter placeholder not filled in payload: prompt"


@pytest.mark.parametrize("params", [{}, {"http_body": ""}])
def test_post_with_empty_body_is_refused(params):
    action = _action(request_body=None)
    with pytest.raises(IllegalArgumentError) as caught:
        build_request(_model(actions=[action]), params, "predict")
    assert caught.value.reason == "Content length is 0. Aborting request to remote model"


def test_post_without_template_sends_http_body():
    action = _action(request_body=None)
    out = build_request(_model(actions=[action]), {"http_body": '{"raw":1}'}, "predict")
    assert out.body == b'{"raw":1}'


@pytest.mark.parametrize("method", ["GET", "get", "DELETE"])
def test_bodiless_methods_need_no_body(method):
    action = _action(method=method, request_body=None)
    out = build_request(_model(actions=[action]), {}, "predict")
    assert out.method == method.upper()
    assert out.body is None


def test_no_predict_action():
    action = _action(action_type="EXECUTE")
    with pytest.raises(IllegalArgumentError) as caught:
        build_request(_model(actions=[action]), {"prompt": "p"}, "predict")
    assert caught.value.reason == "no PREDICT action found"
    assert caught.value.status == 400


def test_find_action_picks_the_requested_type_case_insensitively():
    connector = _connector(
        {"actions": [_action(action_type="execute", url="u1"), _action(url="u2")]}
    )
    assert find_action(connector, "predict").url == "u2"
    assert find_action(connector, "Execute").url == "u1"
    with pytest.raises(IllegalArgumentError, match="^no BATCH_PREDICT action found$"):
        find_action(connector, "batch_predict")


def test_client_config_timeouts_are_used():
    model = _model(client_config={"connection_timeout": 3, "read_timeout": 7})
    out = build_request(model, {"prompt": "p"}, "predict")
    assert (out.connect_timeout, out.read_timeout) == (3.0, 7.0)


def test_outbound_repr_hides_headers():
    out = build_request(_model(), {"prompt": "p"}, "predict")
    assert "sk-secret" not in repr(out)


# build_request: aws_sigv4 (spec 9)

AWS_URL = "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke"


def _aws_model(
    parameters: dict[str, str] | None = None, credential: dict[str, str] | None = None
) -> PreparedModel:
    action = _action(
        url=AWS_URL,
        headers={"content-type": "application/json", "x-amz-content-sha256": "required"},
        request_body='{"inputText":"${parameters.text}"}',
    )
    return _model(
        protocol="aws_sigv4",
        parameters={"region": "us-east-1", "service_name": "bedrock"}
        if parameters is None
        else parameters,
        credential={"access_key": "AKID", "secret_key": "SECRET"}
        if credential is None
        else credential,
        actions=[action],
    )


def test_aws_request_is_signed_with_connector_region_and_service():
    out = build_request(_aws_model(), {"text": "hi"}, "predict")
    (authorization,) = _header(out.headers, "Authorization")
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKID/")
    assert "/us-east-1/bedrock/aws4_request, SignedHeaders=" in authorization
    assert _header(out.headers, "x-amz-content-sha256") != ["required"]
    assert len(_header(out.headers, "X-Amz-Date")) == 1
    assert out.body == b'{"inputText":"hi"}'


def test_aws_request_parameters_cannot_override_region_or_service():
    params = {"text": "hi", "region": "eu-west-1", "service_name": "s3"}
    (authorization,) = _header(
        build_request(_aws_model(), params, "predict").headers, "Authorization"
    )
    assert "/us-east-1/bedrock/aws4_request" in authorization


def test_aws_region_and_service_may_come_from_the_credential():
    credential = {
        "access_key": "AKID",
        "secret_key": "SECRET",
        "region": "ap-south-1",
        "service_name": "sagemaker",
    }
    out = build_request(_aws_model(parameters={}, credential=credential), {"text": "x"}, "predict")
    (authorization,) = _header(out.headers, "Authorization")
    assert "/ap-south-1/sagemaker/aws4_request" in authorization


def test_aws_session_token_is_sent():
    credential = {"access_key": "AKID", "secret_key": "SECRET", "session_token": "TOK"}
    out = build_request(_aws_model(credential=credential), {"text": "x"}, "predict")
    assert _header(out.headers, "X-Amz-Security-Token") == ["TOK"]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"service_name": "bedrock"}, "Missing region"),
        ({"region": "us-east-1"}, "Missing service name"),
    ],
)
def test_aws_without_region_or_service_is_refused(parameters, message):
    with pytest.raises(IllegalArgumentError) as caught:
        build_request(_aws_model(parameters=parameters), {"text": "x"}, "predict")
    assert caught.value.reason == message


def test_http_request_is_not_signed():
    out = build_request(_model(), {"prompt": "p"}, "predict")
    assert _header(out.headers, "X-Amz-Date") == []
    assert _header(out.headers, "Authorization") == ["Bearer sk-secret"]


def test_invalid_payload_error_never_quotes_a_credential() -> None:
    body = '{"p":"${parameters.prompt}","k":"${credential.key}","x":${parameters.x:-1}}'
    model = _model(actions=[_action(request_body=body)])
    with pytest.raises(IllegalArgumentError) as error:
        build_request(model, {"prompt": "x", "x": "abc def"}, "predict")
    assert error.value.reason.startswith("Invalid payload: ")
    assert "sk-secret" not in error.value.reason
    assert "${credential.key}" in error.value.reason


def test_request_values_cannot_pull_credentials_into_the_body() -> None:
    outbound = build_request(_model(), {"prompt": "${credential.key}"}, "predict")
    assert outbound.body is not None and b"sk-secret" not in outbound.body


@pytest.mark.parametrize(
    ("url", "params", "reason"),
    [
        ("https://api.openai.com/v1?q=${parameters.q}", {}, "not filled in url: q"),
        ("http://127.0.0.1:99999/x", {}, "Encountered error when trying to create uri"),
        ("http://127.0.0.1:8950:12/x", {}, "Encountered error when trying to create uri"),
        ("https://${parameters.host}/v1?key=${credential.key}", {"host": ""}, "create uri"),
        ("https://api.openai.com/v1/${parameters.p}", {"p": "a b"}, "create uri"),
        ("ftp://api.openai.com/v1", {}, "create uri"),
    ],
)
def test_bad_urls_are_400_without_the_secret(url: str, params: dict[str, str], reason: str) -> None:
    with pytest.raises(IllegalArgumentError) as error:
        build_request(_model(actions=[_action(url=url)]), {"prompt": "p", **params}, "predict")
    assert reason in error.value.reason
    assert "sk-secret" not in error.value.reason


def test_unknown_charset_is_400() -> None:
    with pytest.raises(IllegalArgumentError, match="Unsupported charset: bogus"):
        build_request(_model(), {"prompt": "p", "charset": "bogus"}, "predict")

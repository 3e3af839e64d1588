"""Predict through the whole stack: templating on the wire, upstream errors, SSRF rules, SigV4."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cluster import Cluster, MockUpstream, connector_body

ECHO_BODY = (
    '{ "prompt": "${parameters.prompt}", "messages": ${parameters.messages}, '
    '"max_tokens": ${parameters.max_tokens}, "temp": "${parameters.temperature:-0.7}", '
    '"stop": "${parameters.stop:-null}", "key": "${credential.api_key}" }'
)


def echo_model(gw: Cluster, mock: MockUpstream, **action: Any) -> str:
    spec = {
        "action_type": "predict",
        "method": "POST",
        "url": "http://${parameters.endpoint}/post?model=${parameters.model}",
        "headers": {
            "Authorization": "Bearer ${credential.api_key}",
            "X-Request-Id": "${parameters.request_id:-none}",
        },
        "request_body": ECHO_BODY,
    }
    spec.update(action)
    connector_id = gw.create_connector(
        parameters={"endpoint": mock.host, "model": "echo-1", "max_tokens": 7},
        credential={"api_key": "k-123"},
        actions=[spec],
    )
    model_id = gw.register(connector_id, f"echo-{uuid.uuid4().hex[:8]}")
    gw.deploy(model_id)
    return model_id


def echoed(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json()["inference_results"][0]["output"][0]["dataAsMap"])


def test_body_template_is_filled_exactly(gw: Cluster, mock: MockUpstream) -> None:
    model_id = echo_model(gw, mock)
    prompt = 'Say "hi"\n/ to Moët 😀'
    messages = [{"role": "user", "content": "Hello!"}]
    data = echoed(
        gw.predict(model_id, {"prompt": prompt, "messages": messages, "request_id": "r-1"})
    )
    assert data["data"] == (
        '{ "prompt": "Say \\"hi\\"\\n\\/ to Mo\\u00EBt \\uD83D\\uDE00", '
        '"messages": [{"role":"user","content":"Hello!"}], "max_tokens": 7, "temp": "0.7", '
        '"stop": null, "key": "k-123" }'
    )
    assert data["json"]["prompt"] == prompt and data["json"]["messages"] == messages
    assert data["headers"]["authorization"] == "Bearer k-123"
    assert data["headers"]["x-request-id"] == "r-1"
    assert data["headers"]["content-type"] == "application/json"
    assert data["query"] == {"model": "echo-1"}


def test_request_parameters_override_connector_parameters(gw: Cluster, mock: MockUpstream) -> None:
    model_id = echo_model(gw, mock)
    data = echoed(
        gw.predict(
            model_id,
            {"prompt": "p", "messages": [], "max_tokens": 99, "model": "other", "temperature": 0.1},
        )
    )
    assert data["json"]["max_tokens"] == 99 and data["json"]["temp"] == "0.1"
    assert data["query"] == {"model": "other"}
    slash = gw.call(
        "POST",
        f"/_plugins/_ml/models/{model_id}/_predict/",
        {"parameters": {"prompt": "p", "messages": []}},
    )
    assert slash.status_code == 200 and echoed(slash)["json"]["prompt"] == "p"


def test_missing_parameter_is_400_and_nothing_is_sent(gw: Cluster, mock: MockUpstream) -> None:
    model_id = echo_model(gw, mock, url="http://127.0.0.1:9/post")  # port 9: nothing listens
    quoted = gw.predict(model_id, {"messages": []})
    assert quoted.status_code == 400
    assert (
        quoted.json()["error"]["reason"]
        == "Some parameter placeholder not filled in payload: prompt"
    )
    unquoted = gw.predict(model_id, {"prompt": "p"})
    assert unquoted.status_code == 400
    assert unquoted.json()["error"]["reason"].startswith("Invalid payload: ")
    sent = gw.predict(model_id, {"prompt": "p", "messages": []})
    assert sent.status_code == 500
    assert sent.json()["error"]["reason"].startswith("Error communicating with remote model")


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/status/503", 503, 'Error from remote service: {"status": 503}'),
        ("/status/404", 404, 'Error from remote service: {"status": 404}'),
        ("/empty", 502, "Remote service returned empty response body"),
    ],
)
def test_upstream_errors_keep_status_and_body(
    gw: Cluster, mock: MockUpstream, path: str, status: int, reason: str
) -> None:
    model_id = echo_model(gw, mock, url="http://${parameters.endpoint}" + path)
    response = gw.predict(model_id, {"prompt": "p", "messages": []})
    assert response.status_code == status
    body = response.json()
    assert body["status"] == status and body["error"]["type"] == "status_exception"
    assert body["error"]["reason"].replace(" ", "") == reason.replace(" ", "")


def test_upstream_auth_error_and_text_answer(gw: Cluster, mock: MockUpstream) -> None:
    connector_id = gw.create_connector(
        parameters={"endpoint": mock.host, "model": "m"},
        actions=[{**connector_body()["actions"][0], "headers": {}}],
    )
    model_id = gw.register(connector_id, f"noauth-{uuid.uuid4().hex[:6]}")
    response = gw.predict(model_id, {"messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 401
    assert response.json()["error"]["reason"].startswith("Error from remote service: ")
    assert "invalid_api_key" in response.json()["error"]["reason"]
    text_model = echo_model(gw, mock, url="http://${parameters.endpoint}/text")
    assert echoed(gw.predict(text_model, {"prompt": "p", "messages": []})) == {
        "response": "plain text answer"
    }


def test_private_addresses_refused_unless_enabled(gw: Cluster, mock: MockUpstream) -> None:
    model_id = echo_model(gw, mock)
    gw.set_settings(connector__private_ip_enabled=False)
    refused = gw.predict(model_id, {"prompt": "p", "messages": []})
    assert refused.status_code == 400
    assert (
        refused.json()["error"]["reason"]
        == "Remote inference host name has private ip address: 127.0.0.1"
    )
    gw.set_settings(connector__private_ip_enabled=True)
    assert gw.predict(model_id, {"prompt": "p", "messages": []}).status_code == 200


def test_untrusted_url_at_predict_time(gw: Cluster, mock: MockUpstream) -> None:
    model_id = echo_model(gw, mock)
    response = gw.predict(model_id, {"prompt": "p", "messages": [], "endpoint": "localhost:80"})
    assert response.status_code == 400
    assert (
        response.json()["error"]["reason"]
        == "Connector URL is not matching the trusted connector endpoint regex"
    )


def aws_connector(
    mock: MockUpstream, service: str, url: str, body: str, secret: str
) -> dict[str, Any]:
    return connector_body(
        protocol="aws_sigv4",
        parameters={"region": "us-west-2", "service_name": service, "endpoint": mock.host},
        credential={"access_key": "AKIAMOCKUPSTREAM", "secret_key": secret, "session_token": "tok"},
        actions=[
            {
                "action_type": "predict",
                "method": "POST",
                "url": url,
                "headers": {"content-type": "application/json", "x-amz-content-sha256": "required"},
                "request_body": body,
            }
        ],
    )


BEDROCK_URL = "http://${parameters.endpoint}/model/amazon.titan-embed-text-v1/invoke"
BEDROCK_BODY = '{ "inputText": "${parameters.inputText}" }'


def register_body(gw: Cluster, body: dict[str, Any], prefix: str) -> str:
    connector_id = gw.ok("POST", "/_plugins/_ml/connectors/_create", body)["connector_id"]
    return gw.register(connector_id, f"{prefix}-{uuid.uuid4().hex[:6]}")


def test_sigv4_sagemaker_and_bedrock(gw: Cluster, mock: MockUpstream) -> None:
    sagemaker = aws_connector(
        mock,
        "sagemaker",
        "http://${parameters.endpoint}/endpoints/lmi-model/invocations",
        '["${parameters.inputs}"]',
        "mock-secret-key",
    )
    model_id = register_body(gw, sagemaker, "sm")
    data = echoed(gw.predict(model_id, {"inputs": "hello world"}))
    assert len(data["response"]) == 1 and len(data["response"][0]) == 1536
    bedrock = aws_connector(mock, "bedrock", BEDROCK_URL, BEDROCK_BODY, "mock-secret-key")
    model_id = register_body(gw, bedrock, "br")
    data = echoed(gw.predict(model_id, {"inputText": "hello"}))
    assert len(data["embedding"]) == 1536 and data["inputTextTokenCount"] == 1


def test_sigv4_wrong_secret_is_rejected_by_upstream(gw: Cluster, mock: MockUpstream) -> None:
    bad = aws_connector(mock, "bedrock", BEDROCK_URL, BEDROCK_BODY, "wrong-secret")
    model_id = register_body(gw, bad, "bad")
    response = gw.predict(model_id, {"inputText": "hello"})
    assert response.status_code == 403
    assert "signature we calculated does not match" in json.loads(response.text)["error"]["reason"]


def test_openai_embedding_post_process_and_response_filter(gw: Cluster, mock: MockUpstream) -> None:
    model_id = echo_model(
        gw,
        mock,
        url="http://${parameters.endpoint}/v1/embeddings",
        request_body='{ "input": ${parameters.input}, "model": "${parameters.model}" }',
        post_process_function="connector.post_process.openai.embedding",
    )
    response = gw.predict(model_id, {"input": ["hello", "world"]})
    assert response.status_code == 200, response.text
    output = response.json()["inference_results"][0]["output"]
    assert [t["name"] for t in output] == ["sentence_embedding", "sentence_embedding"]
    assert output[0]["shape"] == [1536] and output[0]["data_type"] == "FLOAT32"
    plain = echo_model(
        gw,
        mock,
        url="http://${parameters.endpoint}/v1/embeddings",
        request_body='{ "input": ${parameters.input}, "model": "${parameters.model}" }',
    )
    filtered = gw.predict(plain, {"input": ["a b c"], "response_filter": "$.usage"})
    assert filtered.json()["inference_results"][0]["output"] == [
        {"name": "response", "dataAsMap": {"response": {"prompt_tokens": 3, "total_tokens": 3}}}
    ]


def test_text_docs_through_openai_and_bedrock_embedding(gw: Cluster, mock: MockUpstream) -> None:
    openai = echo_model(
        gw,
        mock,
        url="http://${parameters.endpoint}/v1/embeddings",
        request_body='{ "input": ${parameters.input}, "model": "${parameters.model}" }',
        pre_process_function="connector.pre_process.openai.embedding",
        post_process_function="connector.post_process.openai.embedding",
    )
    answer = gw.call(
        "POST", f"/_plugins/_ml/_predict/text_embedding/{openai}", {"text_docs": ["hello", "world"]}
    )
    assert answer.status_code == 200, answer.text
    results = answer.json()["inference_results"]
    assert len(results) == 1 and len(results[0]["output"]) == 2
    bedrock = aws_connector(mock, "bedrock", BEDROCK_URL, BEDROCK_BODY, "mock-secret-key")
    bedrock["actions"][0]["pre_process_function"] = "connector.pre_process.bedrock.embedding"
    bedrock["actions"][0]["post_process_function"] = "connector.post_process.bedrock.embedding"
    model_id = register_body(gw, bedrock, "br-docs")
    answer = gw.call(
        "POST",
        f"/_plugins/_ml/_predict/text_embedding/{model_id}",
        {"text_docs": ["hello", "world"]},
    )
    assert answer.status_code == 200, answer.text
    results = answer.json()["inference_results"]
    assert [len(r["output"]) for r in results] == [1, 1]
    assert results[0]["output"][0]["shape"] == [1536]
    assert results[0]["output"][0]["data"] != results[1]["output"][0]["data"]


def test_client_config_retries_5xx_then_gives_the_last_answer(gw: Cluster, tmp_root: Path) -> None:
    flaky = MockUpstream(tmp_root, "--error-rate", "0.5", "--seed", "7")
    try:
        body = connector_body(
            parameters={"endpoint": flaky.host, "model": "m"},
            client_config={"max_retry_times": 10, "retry_backoff_millis": 1},
        )
        retried = register_body(gw, body, "retry")
        plain = gw.register(
            gw.create_connector(parameters={"endpoint": flaky.host, "model": "m"}),
            f"noretry-{uuid.uuid4().hex[:6]}",
        )
        ask = {"messages": [{"role": "user", "content": "again"}]}
        assert all(gw.predict(retried, ask).status_code == 200 for _ in range(20))
        statuses = {gw.predict(plain, ask).status_code for _ in range(20)}
        assert statuses == {200, 500}
    finally:
        flaky.stop()


def test_text_similarity_input_goes_through_a_rerank_pre_process(
    gw: Cluster, mock: MockUpstream
) -> None:
    model_id = echo_model(
        gw,
        mock,
        request_body=(
            '{ "query": "${parameters.query}", "documents": ${parameters.documents}, '
            '"top_n": ${parameters.top_n} }'
        ),
        pre_process_function="connector.pre_process.cohere.rerank",
    )
    body = {"query_text": 'what is "rerank"?', "text_docs": ["first doc", "second doc"]}
    for path in (
        f"/_plugins/_ml/models/{model_id}/_predict",
        f"/_plugins/_ml/_predict/text_similarity/{model_id}",
    ):
        answer = gw.call("POST", path, body)
        sent = echoed(answer)["json"]
        assert sent == {
            "query": 'what is "rerank"?',
            "documents": ["first doc", "second doc"],
            "top_n": 2,
        }

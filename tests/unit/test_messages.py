"""Tests for common.messages: one encode and one decode per message, versions and bad input."""

from __future__ import annotations

import json

import pytest

from common.errors import GatewayTimeoutError, MLCommonsError, NotFoundError
from common.messages import (
    MESSAGE_VERSION,
    DeployJob,
    ErrorInfo,
    JobReply,
    Message,
    MessageError,
    PredictReply,
    PredictRequest,
    RegisterJob,
    UndeployJob,
    addressee,
)
from common.records import Connector, ConnectorAction, DeploySetting

MESSAGES: list[Message] = [
    RegisterJob(
        task_id="t",
        model_id="m",
        reply_key="mg:reply:x",
        request_id="r1",
        name="gpt",
        connector=Connector(
            protocol="http",
            parameters={"endpoint": "e"},
            credential={"k": "sealed"},
            actions=[ConnectorAction(action_type="PREDICT", method="POST", url="http://e")],
        ),
        deploy_setting=DeploySetting(is_auto_deploy_enabled=False),
        interface={"input": "{}"},
        deploy=True,
    ),
    DeployJob(task_id="t", model_id="m"),
    UndeployJob(model_id="m"),
    JobReply(request_id="r1", model_id="m"),
    JobReply(request_id="r2", error=ErrorInfo.of(NotFoundError("Failed to find connector:c"))),
    PredictRequest(
        reply_key="mg:reply:y",
        request_id="r3",
        queue="ml",
        deadline=1700000000.5,
        model_id="m",
        generation=12,
        parameters={"messages": [{"role": "user", "content": "Moët \u2028"}], "n": 1},
        text_docs=["a", "b"],
        trusted=["^https://.*$"],
        private_ip_enabled=False,
    ),
    PredictReply(
        request_id="r3", node="n", node_name="ml-1", role="ml", body='{"inference_results":[]}'
    ),
    PredictReply(
        request_id="r4",
        node="n",
        node_name="d",
        role="data",
        error=ErrorInfo.of(MLCommonsError("x")),
    ),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_decode_reads_back_what_encode_wrote(message):
    assert type(message).decode(message.encode()) == message
    assert type(message).decode(message.text()) == message


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_carries_its_version(message):
    assert json.loads(message.encode())["v"] == MESSAGE_VERSION


def test_a_newer_message_is_refused_with_a_reason():
    raw = json.loads(DeployJob(task_id="t", model_id="m").encode())
    raw["v"] = MESSAGE_VERSION + 1
    with pytest.raises(MessageError, match="newer than this node understands"):
        DeployJob.decode(json.dumps(raw))


def test_a_message_without_version_is_read_as_the_first_version():
    assert DeployJob.decode('{"task_id":"t","model_id":"m"}').v == 1


def test_unknown_fields_from_a_newer_minor_change_are_ignored():
    job = UndeployJob.decode('{"v":1,"model_id":"m","node_ids":["n1"]}')
    assert job == UndeployJob(model_id="m")


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "",
        "[]",
        "null",
        '{"v":1}',
        '{"v":1,"task_id":"t","model_id":7}',
        '{"v":"1","task_id":"t","model_id":"m"}',
        b"\xff\xfe",
    ],
)
def test_malformed_messages_raise_message_error(raw):
    with pytest.raises(MessageError) as caught:
        DeployJob.decode(raw)
    assert caught.value.status == 500
    assert "DeployJob" in caught.value.reason


def test_predict_request_must_name_where_to_reply():
    body = json.loads(MESSAGES[5].encode())
    del body["reply_key"]
    with pytest.raises(MessageError, match="reply_key"):
        PredictRequest.decode(json.dumps(body))


def test_an_error_crosses_the_queue_unchanged():
    sent = GatewayTimeoutError("The remote model did not answer in time")
    info = PredictReply.decode(
        PredictReply(
            request_id="r", node="n", node_name="d", role="data", error=ErrorInfo.of(sent)
        ).encode()
    ).error
    assert info is not None
    received = info.to_error()
    assert (received.status, received.error_type, received.reason) == (
        504,
        "status_exception",
        "The remote model did not answer in time",
    )


def test_messages_are_immutable():
    with pytest.raises(AttributeError):
        DeployJob(task_id="t", model_id="m").task_id = "u"  # type: ignore[misc]


@pytest.mark.parametrize("message", [m for m in MESSAGES if hasattr(m, "request_id")])
def test_a_reply_names_its_request_without_a_full_decode(message):
    assert addressee(message.encode()) == message.request_id


@pytest.mark.parametrize("raw", ["", "{}", '{"request_id":5}', "[1]"])
def test_a_reply_without_a_request_id_is_refused(raw):
    with pytest.raises(MessageError):
        addressee(raw)

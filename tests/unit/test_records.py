"""Tests for common.records: wire shapes, round trips, and records written by earlier versions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from msgspec import structs

from common import messages as messages_module
from common import records as records_module
from common.messages import Message
from common.records import (
    ClientConfig,
    Connector,
    ConnectorAction,
    DeploySetting,
    FunctionName,
    MLModel,
    MLModelState,
    MLTask,
    MLTaskState,
    MLTaskType,
    ModelGroup,
    Node,
    NodeRole,
    RateLimiter,
    Record,
    from_json,
    to_json,
    to_wire,
)
from common.tasks import new_task

ROOT = Path(__file__).resolve().parents[2]


def _model(**changes: object) -> MLModel:
    model = MLModel(
        name="gpt",
        model_group_id="g1",
        algorithm=FunctionName.REMOTE,
        model_version="1",
        model_state=MLModelState.REGISTERED,
        created_time=10,
        last_updated_time=10,
        last_registered_time=10,
        is_hidden=False,
        connector_id="c1",
    )
    return structs.replace(model, **changes)


def test_model_wire_leaves_unset_fields_out_but_always_shows_the_fixed_ones():
    assert to_wire(_model()) == {
        "name": "gpt",
        "model_group_id": "g1",
        "algorithm": "REMOTE",
        "model_version": "1",
        "model_state": "REGISTERED",
        "created_time": 10,
        "last_updated_time": 10,
        "last_registered_time": 10,
        "is_hidden": False,
        "connector_id": "c1",
    }


def test_undeployed_model_shows_its_emptied_plan():
    wire = to_wire(
        _model(
            model_state=MLModelState.UNDEPLOYED,
            planning_worker_nodes=[],
            planning_worker_node_count=0,
            current_worker_node_count=0,
        )
    )
    assert wire["planning_worker_nodes"] == []
    assert wire["planning_worker_node_count"] == wire["current_worker_node_count"] == 0


@pytest.mark.parametrize(
    ("state", "serving"),
    [
        (MLModelState.DEPLOYED, True),
        (MLModelState.PARTIALLY_DEPLOYED, True),
        (MLModelState.DEPLOYING, True),
        (MLModelState.LOADED, True),
        (MLModelState.REGISTERED, False),
        (MLModelState.UNDEPLOYED, False),
        (MLModelState.DEPLOY_FAILED, False),
    ],
)
def test_serving_states(state, serving):
    assert _model(model_state=state).is_serving is serving


def test_task_puts_model_id_first_and_keeps_is_async_last():
    task = new_task(MLTaskType.DEPLOY_MODEL, is_async=True, model_id="m1", worker_node=["n1"])
    wire = to_wire(task)
    assert list(wire) == [
        "model_id",
        "task_type",
        "function_name",
        "state",
        "worker_node",
        "create_time",
        "last_update_time",
        "is_async",
    ]
    assert wire["state"] == "CREATED" and wire["worker_node"] == ["n1"]


def test_register_task_without_model_id_or_error_omits_them():
    wire = to_wire(new_task(MLTaskType.REGISTER_MODEL, is_async=False))
    assert "model_id" not in wire and "error" not in wire
    assert wire["worker_node"] == [] and wire["is_async"] is False


@pytest.mark.parametrize(
    ("state", "final"),
    [
        (MLTaskState.CREATED, False),
        (MLTaskState.RUNNING, False),
        (MLTaskState.COMPLETED, True),
        (MLTaskState.FAILED, True),
        (MLTaskState.COMPLETED_WITH_ERROR, True),
        (MLTaskState.CANCELLED, True),
    ],
)
def test_task_finality(state, final):
    task = structs.replace(new_task(MLTaskType.REGISTER_MODEL, is_async=False), state=state)
    assert task.is_final is final


@pytest.mark.parametrize(
    "record",
    [
        _model(),
        new_task(MLTaskType.REGISTER_MODEL, is_async=False),
        ModelGroup(
            name="g", latest_version=3, access="public", created_time=1, last_updated_time=2
        ),
        Node(id="n", name="ml-1", role=NodeRole.ML, host="h", pid=1, started=1.5, last_seen=2.5),
        Connector(
            protocol="http",
            parameters={"a": "1", "b": None},
            credential={"k": "sealed"},
            actions=[ConnectorAction(action_type="PREDICT", method="POST", url="http://u")],
            client_config=ClientConfig(read_timeout=3),
        ),
    ],
    ids=["model", "task", "group", "node", "connector"],
)
def test_round_trip_is_exact(record):
    assert from_json(to_json(record), type(record)) == record


def test_model_stored_by_the_untyped_version_still_reads():
    # The JSON main wrote before records were typed: dict order and extra fields of its own.
    stored = json.dumps(
        {
            "name": "gpt",
            "model_group_id": "g1",
            "algorithm": "REMOTE",
            "model_version": "2",
            "description": "d",
            "model_state": "DEPLOYED",
            "created_time": 1,
            "last_updated_time": 2,
            "last_registered_time": 1,
            "is_hidden": False,
            "deploy_setting": {"is_auto_deploy_enabled": False},
            "interface": {"input": "{}"},
            "connector": {
                "protocol": "aws_sigv4",
                "parameters": {"region": "us-east-1"},
                "credential": {"access_key": "sealed"},
                "actions": [{"action_type": "PREDICT", "method": "POST", "url": "https://x"}],
                "created_time": 1,
                "last_updated_time": 1,
            },
            "planning_worker_nodes": ["n1"],
            "deploy_to_all_nodes": True,
            "some_future_field": 1,
        }
    )
    model = from_json(stored, MLModel)
    assert model.model_state is MLModelState.DEPLOYED and model.is_serving
    assert model.deploy_setting is not None
    assert model.deploy_setting.is_auto_deploy_enabled is False
    assert model.connector is not None and model.connector.protocol == "aws_sigv4"
    assert model.connector.action("predict") is not None
    assert "some_future_field" not in to_wire(model)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model_state", "HALF_DEPLOYED"),
        ("model_version", 2),
        ("created_time", "yesterday"),
        ("is_hidden", "no"),
    ],
)
def test_a_corrupt_record_is_refused_not_misread(field, value):
    stored = to_wire(_model())
    stored[field] = value
    with pytest.raises(msgspec.ValidationError):
        from_json(json.dumps(stored), MLModel)


def test_records_are_immutable():
    with pytest.raises(AttributeError):
        _model().name = "other"  # type: ignore[misc]


def test_connector_action_lookup_ignores_case():
    connector = Connector(
        protocol="http",
        parameters={},
        credential={},
        actions=[
            ConnectorAction(action_type="EXECUTE", method="POST", url="u1"),
            ConnectorAction(action_type="PREDICT", method="POST", url="u2"),
        ],
    )
    found = connector.action("predict")
    assert found is not None and found.url == "u2"
    assert connector.action("batch_predict") is None


def test_a_task_record_with_a_new_state_is_refused():
    wire = to_wire(new_task(MLTaskType.REGISTER_MODEL, is_async=False))
    with pytest.raises(msgspec.ValidationError):
        from_json(json.dumps({**wire, "state": "PAUSED"}), MLTask)


# Decoding from many threads at once in a fresh process: before decoders were built at import,
# this crashed msgspec (SIGSEGV) in most runs; the API serves on 32 threads per process.
FIRST_DECODES_IN_THREADS = """
import sys, threading
sys.setswitchinterval(1e-6)
from common.messages import PredictReply, PredictRequest
from common.records import MLModel, Node, from_json
model = (
    '{"name":"m","model_group_id":"g","algorithm":"REMOTE","model_version":"1",'
    '"model_state":"DEPLOYED","created_time":1,"last_updated_time":1,"is_hidden":false,'
    '"deploy_setting":{},"connector":{"protocol":"http","parameters":{},"credential":{},'
    '"actions":[{"action_type":"PREDICT","method":"POST","url":"u"}],"client_config":{}}}'
)
node = '{"id":"n","name":"ml-1","role":"ml","host":"h","pid":1,"started":1,"last_seen":2}'
reply = PredictReply(request_id="r", node="n", node_name="m", role="ml", body="{}").encode()
barrier = threading.Barrier(32)
def work():
    barrier.wait()
    for _ in range(50):
        from_json(model, MLModel); from_json(node, Node); PredictReply.decode(reply)
threads = [threading.Thread(target=work) for _ in range(32)]
for t in threads: t.start()
for t in threads: t.join()
"""


def test_first_decodes_from_many_threads_do_not_crash():
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", FIRST_DECODES_IN_THREADS],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr


def test_every_record_and_message_type_has_a_decoder_built_at_import():
    records = {cls for cls in _subclasses(Record)}
    messages = {cls for cls in _subclasses(Message)}
    nested = {ConnectorAction, DeploySetting, RateLimiter}  # built with the record holding them
    assert records <= set(records_module._DECODERS) | nested
    assert messages <= set(messages_module._DECODERS)


def _subclasses(base: type) -> list[type]:
    found = []
    for sub in base.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_serving_generation_ignores_deploy_state_but_not_the_connector():
    model = _model()
    redeployed = structs.replace(
        model,
        model_state=MLModelState.DEPLOYED,
        last_updated_time=99,
        last_deployed_time=99,
        planning_worker_nodes=["n1"],
    )
    assert redeployed.serving_generation == model.serving_generation
    assert structs.replace(model, connector_id="c2").serving_generation != model.serving_generation
    inline = Connector(
        protocol="http",
        parameters={"endpoint": "a"},
        credential={},
        actions=[ConnectorAction(action_type="PREDICT", method="POST", url="http://a")],
    )
    with_inline = structs.replace(model, connector_id=None, connector=inline)
    changed = structs.replace(inline, parameters={"endpoint": "b"})
    assert (
        structs.replace(with_inline, connector=changed).serving_generation
        != with_inline.serving_generation
    )

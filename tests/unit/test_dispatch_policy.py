"""common/dispatch.py: which predict list each task_dispatch_policy picks (no servers)."""

from __future__ import annotations

import pytest
from msgspec import structs

from common.dispatch import LEAST_LOAD, ROUND_ROBIN, Rotation, predict_queue, reroute_queue
from common.errors import NodeUnavailableError
from common.records import FunctionName, MLModel, MLModelState, Node, NodeRole


def _model(**changes: object) -> MLModel:
    model = MLModel(
        name="gpt",
        model_group_id="g1",
        algorithm=FunctionName.REMOTE,
        model_version="1",
        model_state=MLModelState.DEPLOYED,
        created_time=10,
        last_updated_time=10,
        is_hidden=False,
        connector_id="c1",
    )
    return structs.replace(model, **changes)


def _nodes(*ids: str) -> list[Node]:
    role = NodeRole.ML
    return [Node(id=i, name=i, role=role, host="h", pid=1, started=0, last_seen=0) for i in ids]


def test_least_load_uses_the_shared_list_of_the_eligible_role():
    for only_ml, queue in ((True, "ml"), (False, "ml_or_data")):
        chosen = predict_queue(
            _model(), _nodes("a", "b"), only_ml=only_ml, policy=LEAST_LOAD, rotation=Rotation()
        )
        assert chosen == queue


def test_round_robin_takes_the_nodes_in_turn_whatever_their_order():
    rotation = Rotation()
    picks = [
        predict_queue(_model(), _nodes(*order), only_ml=True, policy=ROUND_ROBIN, rotation=rotation)
        for order in (("b", "a", "c"), ("c", "b", "a")) * 3
    ]
    assert picks == ["node.a", "node.b", "node.c"] * 2


@pytest.mark.parametrize("policy", [LEAST_LOAD, ROUND_ROBIN])
def test_a_custom_plan_keeps_predicts_on_its_live_planned_nodes(policy: str):
    model = _model(planning_worker_nodes=["b", "gone"], deploy_to_all_nodes=False)
    nodes = _nodes("a", "b")
    for _ in range(5):
        chosen = predict_queue(model, nodes, only_ml=True, policy=policy, rotation=Rotation())
        assert chosen == "node.b"
    with pytest.raises(NodeUnavailableError):
        predict_queue(model, _nodes("a"), only_ml=True, policy=policy, rotation=Rotation())


def test_a_dead_nodes_requests_go_where_a_live_node_can_take_them():
    assert reroute_queue(_model(), _nodes("a"), only_ml=False) == "ml_or_data"
    assert reroute_queue(_model(), [], only_ml=True) is None
    planned = _model(planning_worker_nodes=["b"], deploy_to_all_nodes=False)
    assert reroute_queue(planned, _nodes("a", "b"), only_ml=True) == "node.b"
    assert reroute_queue(planned, _nodes("a"), only_ml=True) is None
    assert reroute_queue(None, _nodes("a"), only_ml=True) is None  # the model was deleted

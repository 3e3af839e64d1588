"""plugins.ml_commons.task_dispatch_policy for remote predicts: which predict list a request
goes on (docs/decisions/0006-task-dispatch-policy.md has the figures behind the choice).

- `least_load`: the shared list of the eligible role, which every eligible node pulls from;
  the node with a free slot takes the next request, which is least load without asking
  anybody for their load.
- `round_robin`: the eligible live nodes that hold the model take turns; each request goes on
  the chosen node's own list. The turn counter is per API process (ML Commons' is per
  coordinating node), so several API processes each rotate on their own.

A model deployed to named nodes only (a custom deployment plan) always goes on one of those
nodes' own lists: a node outside the plan must not take it. Under `least_load` that node is a
random one of them (heartbeat load figures are seconds old and would send every request to
the same node until the next beat).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

from common.errors import NodeUnavailableError
from common.queueing import node_queue, role_queue
from common.records import MLModel, Node

ROUND_ROBIN = "round_robin"
LEAST_LOAD = "least_load"
NO_NODE = "no eligible node to run predict request"


class Rotation:
    """A turn counter shared by the threads of one process.

    itertools.count's next() is one C call, atomic under the GIL: no lock on the predict path.
    """

    def __init__(self) -> None:
        self._turns = itertools.count()

    def pick(self, choices: Sequence[str]) -> str:
        """Return the next choice in turn."""
        return choices[next(self._turns) % len(choices)]


def planned_nodes(model: MLModel) -> set[str] | None:
    """The nodes a model was deployed to by name, or None when every eligible node serves it."""
    planned = model.planning_worker_nodes
    if model.deploy_to_all_nodes or not planned:
        return None
    return set(planned)


def predict_queue(
    model: MLModel, nodes: list[Node], *, only_ml: bool, policy: str, rotation: Rotation
) -> str:
    """Return the list a predict request goes on; nodes are the live eligible ones."""
    planned = planned_nodes(model)
    if planned is None and policy == LEAST_LOAD:
        return role_queue(only_ml=only_ml)
    holders = sorted(node.id for node in nodes if planned is None or node.id in planned)
    if not holders:
        raise NodeUnavailableError(NO_NODE)
    if policy == ROUND_ROBIN:
        return node_queue(rotation.pick(holders))
    return node_queue(random.choice(holders))


def reroute_queue(model: MLModel | None, nodes: list[Node], *, only_ml: bool) -> str | None:
    """Where a request left on a dead node's own list goes now, or None if nowhere can serve it.

    nodes are the live eligible ones. The shared list of the eligible role serves any model
    without a plan whatever the policy (every eligible node pulls from it); a planned model
    goes to one of its planned nodes that is still alive.
    """
    if model is None:
        return None
    planned = planned_nodes(model)
    if planned is None:
        return role_queue(only_ml=only_ml) if nodes else None
    holders = [node.id for node in nodes if node.id in planned]
    return node_queue(random.choice(holders)) if holders else None

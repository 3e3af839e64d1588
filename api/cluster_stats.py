"""ML Commons' stats body (RestMLStatsAction): cluster-level keys, then per-node counters.

Index status keys: modelgate has no indices, so a kind's "index" is "green" once a record of it
exists (ML Commons creates each index with its first document) and "non-existent" before; the
config index follows the connectors and models, whose first one creates the master key that
ML Commons keeps there; controllers are not supported, so theirs is always "non-existent".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.services import Services
from common.errors import IllegalArgumentError
from common.nodes import alive
from common.records import MLModel, Node
from common.stores.node_stats import ModelCounters, NodeCounters

NODE_STATS = (
    "ml_executing_task_count",
    "ml_request_count",
    "ml_failure_count",
    "ml_deployed_model_count",
    "ml_circuit_breaker_trigger_count",
    "ml_jvm_heap_usage",
)
CLUSTER_STATS = (
    "ml_model_index_status",
    "ml_connector_index_status",
    "ml_config_index_status",
    "ml_task_index_status",
    "ml_controller_index_status",
    "ml_model_count",
    "ml_connector_count",
    "modelgate_throttle_count",  # modelgate's: model id -> predicts refused by its rate limiter
)
GREEN, NON_EXISTENT = "green", "non-existent"
ALL_NODES = "_all"
UNKNOWN_STAT = "Wrong ML cluster level stat"  # ML Commons' message: unknown names parse as such


@dataclass(frozen=True)
class StatFilter:
    """The stats a request names; None names every stat, with algorithm and model stats."""

    names: frozenset[str] | None = None

    def wants(self, name: str) -> bool:
        """True when the response carries this stat."""
        return self.names is None or name in self.names

    @property
    def cluster_level(self) -> bool:
        """True when some cluster-level stat is wanted."""
        return any(self.wants(name) for name in CLUSTER_STATS)

    @property
    def node_level(self) -> bool:
        """True when some node-level stat is wanted."""
        return any(self.wants(name) for name in NODE_STATS)


def parse_stats(raw: str | None) -> StatFilter:
    """Read the `<stat>` path part: a comma list of names, in any case, as ML Commons takes."""
    if not raw:
        return StatFilter()
    names = frozenset(part.strip().lower() for part in raw.split(",") if part.strip())
    if not names or names - set(NODE_STATS) - set(CLUSTER_STATS):
        raise IllegalArgumentError(UNKNOWN_STAT)
    return StatFilter(names)


def select_nodes(svc: Services, node_ids: str | None) -> list[Node]:
    """Return the live nodes a `<nodeId>` path part names (ids or names, comma list, `_all`)."""
    nodes = alive(svc.store.nodes.all(), svc.settings.node_ttl_s)
    wanted = {part.strip() for part in (node_ids or ALL_NODES).split(",") if part.strip()}
    if ALL_NODES in wanted:
        return nodes
    return [node for node in nodes if node.id in wanted or node.name in wanted]


def holdings(svc: Services, models: list[tuple[str, MLModel]]) -> dict[str, set[str]]:
    """Return model id -> the nodes holding it, for the models being served."""
    # Only a serving model can have holders: an undeploy clears them with the state.
    serving = [model_id for model_id, model in models if model.is_serving]
    return {model_id: svc.store.deployments.holders(model_id) for model_id in serving}


def render_stats(svc: Services, wanted: StatFilter, node_ids: str | None) -> dict[str, Any]:
    """Build the stats body: cluster keys first, then `nodes` when any node is selected."""
    body: dict[str, Any] = {}
    if wanted.cluster_level:
        body.update(_cluster_stats(svc, wanted))
    if wanted.node_level:
        nodes = select_nodes(svc, node_ids)
        if nodes:
            body["nodes"] = _nodes_stats(svc, nodes, wanted)
    return body


def _record_counts(svc: Services) -> tuple[int, int, int]:
    store = svc.store
    pipe = store.redis.pipeline(transaction=False)
    for records in (store.models, store.connectors, store.tasks):
        records.add_count(pipe)
    models, connectors, tasks = (int(count) for count in pipe.execute())
    return models, connectors, tasks


def _cluster_stats(svc: Services, wanted: StatFilter) -> dict[str, Any]:
    models, connectors, tasks = _record_counts(svc)
    values: dict[str, Any] = {
        "ml_model_index_status": _status(models),
        "ml_connector_index_status": _status(connectors),
        "ml_config_index_status": _status(models + connectors),
        "ml_task_index_status": _status(tasks),
        "ml_controller_index_status": NON_EXISTENT,
        "ml_model_count": models,
        "ml_connector_count": connectors,
    }
    if wanted.wants("modelgate_throttle_count"):
        values["modelgate_throttle_count"] = svc.store.node_stats.throttles()
    return {name: values[name] for name in CLUSTER_STATS if wanted.wants(name)}


def _status(count: int) -> str:
    return GREEN if count else NON_EXISTENT


def _nodes_stats(svc: Services, nodes: list[Node], wanted: StatFilter) -> dict[str, Any]:
    counters = svc.store.node_stats.read([node.id for node in nodes])
    held = holdings(svc, svc.store.models.all())
    rendered: dict[str, Any] = {}
    for node in nodes:
        deployed = sum(node.id in holders for holders in held.values())
        rendered[node.id] = node_stats(
            node, counters.get(node.id, NodeCounters()), deployed, wanted
        )
    return rendered


def node_stats(
    node: Node, counters: NodeCounters, deployed: int, wanted: StatFilter
) -> dict[str, Any]:
    """One node's entry: ML Commons' node stats, algorithms and models, then who it is."""
    values: dict[str, Any] = {
        "ml_executing_task_count": counters.executing,
        "ml_request_count": sum(action.requests for action in counters.actions.values()),
        "ml_failure_count": sum(action.failures for action in counters.actions.values()),
        "ml_deployed_model_count": deployed,
        "ml_circuit_breaker_trigger_count": 0,  # modelgate has no circuit breakers
        "ml_jvm_heap_usage": counters.rss_percent,  # the process RSS, % of the machine's
    }
    entry = {k: v for k, v in values.items() if wanted.wants(k) and v is not None}
    if wanted.names is None:
        entry["algorithms"] = _algorithms(counters)
        entry["models"] = {m: _model_stats(c) for m, c in sorted(counters.models.items())}
    # modelgate's: which process this is (OpenSearch's node info names them the same way).
    entry.update(name=node.name, host=node.host, roles=[node.role.value])
    return entry


def _algorithms(counters: NodeCounters) -> dict[str, Any]:
    # As in ML Commons, an action appears once it has run, and its failures once one failed.
    actions = {
        name: _action(count.requests, count.failures) for name, count in counters.actions.items()
    }
    return {"remote": dict(sorted(actions.items()))} if actions else {}


def _action(requests: int, failures: int) -> dict[str, int]:
    counts = {"ml_action_request_count": requests}
    if failures:
        counts["ml_action_failure_count"] = failures
    return counts


def _model_stats(counters: ModelCounters) -> dict[str, Any]:
    predict: dict[str, Any] = _action(counters.requests, counters.failures)
    # modelgate's: time on the node serving each predict (dominated by the upstream call).
    predict["modelgate_latency_ms"] = {
        "count": counters.requests,
        "sum": counters.latency_sum_ms,
        "max": counters.latency_max_ms,
    }
    predict["modelgate_upstream_throttle_count"] = counters.upstream_throttled
    return {"predict": predict}

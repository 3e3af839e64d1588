"""Store: modelgate's data in Redis, one handle per concept (each in common/stores/)."""

from __future__ import annotations

from typing import Any

from common.records import Connector, MLModel, MLTask, ModelGroup, Node, from_json
from common.stores.active_tasks import ActiveTasks
from common.stores.cluster import ClusterSettingsStore, decode_map
from common.stores.connection import Redis, connect, connect_for_blocking
from common.stores.deployments import Deployments
from common.stores.groups import GroupNames
from common.stores.keys import KeyBuilder
from common.stores.master_key import MasterKeyStore
from common.stores.nodes import NodeTable, decode_nodes
from common.stores.predicts import PredictQueues
from common.stores.record_store import RecordStore
from common.stores.replies import Replies

DEFAULT_REPLY_TTL_S = 65
__all__ = ["Store", "connect", "connect_for_blocking"]  # one import for a process's Store


class Store:
    """Typed access to one cluster's data in one Redis database, under one key prefix."""

    def __init__(
        self,
        client: Redis,
        key_prefix: str = "mg",
        *,
        blocking: Redis | None = None,
        reply_ttl_s: int = DEFAULT_REPLY_TTL_S,
    ) -> None:
        self.redis: Redis = client
        self.keys = KeyBuilder(key_prefix)
        keys = self.keys
        self.connectors = RecordStore(
            client, keys, "connector", Connector, created=lambda c: c.created_time or 0
        )
        self.models = RecordStore(client, keys, "model", MLModel, created=lambda m: m.created_time)
        self.model_groups = RecordStore(
            client, keys, "model_group", ModelGroup, created=lambda g: g.created_time
        )
        self.tasks = RecordStore(client, keys, "task", MLTask)
        self.group_names = GroupNames(client, keys)
        self.cluster_settings = ClusterSettingsStore(client, keys)
        self.nodes = NodeTable(client, keys)
        self.deployments = Deployments(client, keys)
        self.active_tasks = ActiveTasks(client, keys)
        self.predicts = PredictQueues(client, keys)
        self.replies = Replies(client, blocking or client, keys, reply_ttl_s)
        self.master_key = MasterKeyStore(client, keys)

    def key(self, *parts: str) -> str:
        """Build a key through the one key builder."""
        return self.keys.key(*parts)

    def predict_context(
        self, model_id: str
    ) -> tuple[MLModel | None, dict[str, Any], dict[str, Any], list[Node]]:
        """Read a model, both setting scopes and the node table in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.models.key(model_id))
        self.cluster_settings.add_read(pipe)
        pipe.hgetall(self.nodes.key)
        raw_model, persistent, transient, nodes = pipe.execute()
        model = None if raw_model is None else from_json(raw_model, MLModel)
        return model, decode_map(persistent), decode_map(transient), decode_nodes(nodes)

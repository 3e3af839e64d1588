"""Store: modelgate's data in Redis, one handle per concept (each in common/stores/)."""

from __future__ import annotations

from common.records import Connector, Controller, MLModel, MLTask, ModelGroup
from common.settings import Settings
from common.stores.active_tasks import ActiveTasks
from common.stores.changes import Changes
from common.stores.cluster import ClusterSettingsStore
from common.stores.connection import Redis, connect, connect_for_blocking, connect_queue
from common.stores.deployments import Deployments
from common.stores.groups import GroupNames
from common.stores.keys import KeyBuilder
from common.stores.master_key import MasterKeyStore
from common.stores.model_access import ModelAccess
from common.stores.node_stats import NodeStatsStore
from common.stores.nodes import NodeTable
from common.stores.predicts import PredictQueues
from common.stores.rate_limits import RateLimits
from common.stores.record_store import RecordStore
from common.stores.replies import Replies

DEFAULT_REPLY_TTL_S = 65
__all__ = [
    "Store",
    "connect",
    "connect_for_blocking",
    "connect_queue",
    "open_store",
]  # one import for a process's Store


class Store:
    """Typed access to one cluster's data in one Redis database, under one key prefix."""

    def __init__(
        self,
        client: Redis,
        key_prefix: str = "mg",
        *,
        queue: Redis | None = None,
        blocking: Redis | None = None,
        reply_ttl_s: int = DEFAULT_REPLY_TTL_S,
    ) -> None:
        """Records live on `client`; predict lists and reply inboxes on `queue` (default: the
        same server), and blocking reads of inboxes use `blocking` (default: `queue`)."""
        self.redis: Redis = client
        self.queue_redis: Redis = client if queue is None else queue
        queue = self.queue_redis
        self.keys = KeyBuilder(key_prefix)
        keys = self.keys
        self.changes = changes = Changes(client, keys)
        self.connectors = RecordStore(
            client,
            keys,
            "connector",
            Connector,
            changes=changes,
            created=lambda c: c.created_time or 0,
        )
        self.models = RecordStore(
            client, keys, "model", MLModel, changes=changes, created=lambda m: m.created_time
        )
        self.model_groups = RecordStore(
            client,
            keys,
            "model_group",
            ModelGroup,
            changes=changes,
            created=lambda g: g.created_time,
        )
        self.tasks = RecordStore(client, keys, "task", MLTask, changes=changes)
        # Per-user rate limiters, by model id (.plugins-ml-controller); their changes are
        # published so every API process's view drops its copy at once.
        self.controllers = RecordStore(client, keys, "controller", Controller, changes=changes)
        self.group_names = GroupNames(client, keys)
        self.cluster_settings = ClusterSettingsStore(client, keys, changes)
        self.nodes = NodeTable(client, keys, changes)
        self.deployments = Deployments(client, keys)
        self.model_access = ModelAccess(client, keys)
        self.active_tasks = ActiveTasks(client, keys)
        self.predicts = PredictQueues(queue, keys)
        self.rate_limits = RateLimits(queue, keys)
        self.node_stats = NodeStatsStore(queue, keys)
        self.replies = Replies(queue, blocking or queue, keys, reply_ttl_s)
        self.master_key = MasterKeyStore(client, keys)

    def key(self, *parts: str) -> str:
        """Build a key through the one key builder."""
        return self.keys.key(*parts)


def open_store(settings: Settings, *, blocking: bool = False) -> Store:
    """Open the Store a process of this cluster uses (records, queues, and if asked, a client
    for blocking inbox reads); nothing connects until first use."""
    queue_url = settings.require_queue_redis_url()
    return Store(
        connect(settings.require_redis_url()),
        settings.key_prefix,
        queue=connect_queue(queue_url),
        blocking=connect_for_blocking(queue_url) if blocking else None,
        reply_ttl_s=settings.reply_ttl_s,
    )

"""The node table: worker nodes' heartbeats and the stable id of each node name."""

from __future__ import annotations

from common.records import Node, from_json, to_json
from common.stores.changes import Changes
from common.stores.connection import Redis
from common.stores.keys import KeyBuilder


class NodeTable:
    """`<prefix>:nodes` (id -> Node JSON) and `<prefix>:node_ids` (name -> id)."""

    def __init__(self, redis: Redis, keys: KeyBuilder, changes: Changes) -> None:
        self._redis = redis
        self._changes = changes
        self.key = keys.key("nodes")
        self._ids = keys.key("node_ids")

    def id_for(self, name: str, new_id: str) -> str:
        """Return the stable node id of a node name, minting new_id on first sight."""
        self._redis.hsetnx(self._ids, name, new_id)
        return str(self._redis.hget(self._ids, name))

    def known_ids(self) -> list[str]:
        """Return the id of every node name ever seen."""
        return list(self._redis.hvals(self._ids))

    def beat(self, node: Node) -> None:
        """Record a node's heartbeat; views reload the table (a node may have joined)."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hset(self.key, node.id, to_json(node))
        self._changes.add_publish(pipe, "nodes")
        pipe.execute()

    def forget(self, node_id: str) -> None:
        """Remove a node that is shutting down; views stop routing to it at once."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hdel(self.key, node_id)
        self._changes.add_publish(pipe, "nodes")
        pipe.execute()

    def all(self) -> list[Node]:
        """Return every node that has announced itself, alive or not."""
        return decode_nodes(self._redis.hgetall(self.key))


def decode_nodes(raw: dict[str, str]) -> list[Node]:
    """Decode the node table's hash, ordered by node name."""
    return sorted((from_json(v, Node) for v in raw.values()), key=lambda n: n.name)

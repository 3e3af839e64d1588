"""The reliable predict lists: shared queues, and each node's in-flight list."""

from __future__ import annotations

from common.messages import MessageError, PredictRequest
from common.stores.connection import Redis
from common.stores.keys import KeyBuilder

# Remove one request from a node's in-flight list and, only if it was still there, requeue it:
# two sweepers racing over the same dead node can never deliver a request twice.
_REQUEUE_LUA = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


# Move up to ARGV[1] of the oldest requests (producers LPUSH, so the oldest are at the right)
# onto the node's in-flight list in one step, and return them newest first. Under load one
# round trip takes a whole batch; the move and the take are one atomic step, so a request
# is always in exactly one list.
TAKE_MANY_LUA = """
local items = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[1]), -1)
if #items == 0 then return items end
redis.call('LTRIM', KEYS[1], 0, -#items - 1)
for i = #items, 1, -1 do redis.call('LPUSH', KEYS[2], items[i]) end
return items
"""


class PredictQueues:
    """`<prefix>:predict:<queue>` and `<prefix>:predict:inflight:<node id>`."""

    def __init__(self, redis: Redis, keys: KeyBuilder) -> None:
        self._redis = redis
        self._keys = keys

    def queue_key(self, queue: str) -> str:
        """Name the list predict requests for one queue wait on."""
        return self._keys.key("predict", queue)

    def inflight_key(self, node_id: str) -> str:
        """Name the list holding the requests a node has taken but not answered."""
        return self._keys.key("predict", "inflight", node_id)

    def push_many(self, by_queue: dict[str, list[bytes]]) -> None:
        """Enqueue encoded requests, oldest first, in one round trip (consumers take FIFO)."""
        pipe = self._redis.pipeline(transaction=False)
        for queue, payloads in by_queue.items():
            pipe.lpush(self.queue_key(queue), *payloads)
        pipe.execute()

    def requeue_inflight(self, node_id: str) -> int:
        """Put a dead node's unanswered requests back at the head of their queues."""
        script = self._redis.register_script(_REQUEUE_LUA)
        inflight = self.inflight_key(node_id)
        moved = 0
        for raw in self._redis.lrange(inflight, 0, -1):
            try:
                queue = PredictRequest.decode(raw).queue
            except MessageError:
                self._redis.lrem(inflight, 1, raw)  # nothing can serve it: drop, not requeue
                continue
            moved += int(script(keys=[inflight, self.queue_key(queue)], args=[raw]))
        return moved

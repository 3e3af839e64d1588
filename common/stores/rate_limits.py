"""Model rate limits: one token bucket per model in Redis, shared by every API process.

ML Commons keeps a bucket per node (rate L/unit/nodes); here one bucket holds the model's whole
budget, so the limit holds however many API processes and nodes serve the model. One script
call per predict refills and takes atomically, on Redis' clock (no skew between hosts).
"""

from __future__ import annotations

from common.stores.connection import Redis
from common.stores.keys import KeyBuilder

# KEYS[1]: the bucket (hash: tokens, ts in ms). ARGV[1]: tokens per ms; ARGV[2]: burst.
# Returns 1 when a token was taken, 0 when the model is throttled.
TAKE_TOKEN_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
local idle_ms = 60000
if rate > 0 then idle_ms = math.ceil(burst / rate) + 1000 end
redis.call('PEXPIRE', KEYS[1], idle_ms)
return taken
"""


class RateLimits:
    """`<prefix>:rate:<model id>`: each rate-limited model's token bucket."""

    def __init__(self, redis: Redis, keys: KeyBuilder) -> None:
        self._keys = keys
        self._take = redis.register_script(TAKE_TOKEN_LUA)

    def take(self, model_id: str, per_second: float, burst: float) -> bool:
        """Take one token from the model's bucket; False when it is empty (throttled)."""
        key = self._keys.key("rate", model_id)
        return bool(self._take(keys=[key], args=[per_second / 1000.0, burst]))

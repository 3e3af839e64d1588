"""Failed logins per client address, counted in Redis so every API process sees them.

The rule (the Security plugin's ip_rate_limiting, with its defaults): an address that fails
`allowed_tries` logins within `time_window_s` is blocked for `block_s`; while blocked, its
requests are refused (429) before any password is checked, so guessing costs the guesser
time and the API no bcrypt work. A success does not clear the count.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.stores.connection import Redis
from common.stores.keys import KeyBuilder

# KEYS[1]: the address's failure count; KEYS[2]: its block. ARGV: window s, tries, block s.
# Returns the count (0 once the failure just blocked the address and the count restarts).
RECORD_FAILURE_LUA = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 0
end
return n
"""


@dataclass(frozen=True, slots=True)
class FailurePolicy:
    """How many failures within how long block an address, and for how long."""

    allowed_tries: int = 10
    time_window_s: int = 3600
    block_s: int = 600


class LoginFailures:
    """`<prefix>:auth:failures:<address>` (a count) and `<prefix>:auth:blocked:<address>`."""

    def __init__(self, redis: Redis, keys: KeyBuilder, policy: FailurePolicy) -> None:
        self._redis = redis
        self._keys = keys
        self._policy = policy
        self._record = redis.register_script(RECORD_FAILURE_LUA)

    def blocked_for(self, address: str) -> int:
        """Seconds the address stays blocked; 0 when it is not."""
        ttl = int(self._redis.ttl(self._keys.key("auth", "blocked", address)))
        return max(ttl, 0)

    def record(self, address: str) -> bool:
        """Count a failed login; True when it blocked the address."""
        policy = self._policy
        keys = [
            self._keys.key("auth", "failures", address),
            self._keys.key("auth", "blocked", address),
        ]
        args = [policy.time_window_s, policy.allowed_tries, policy.block_s]
        return int(self._record(keys=keys, args=args)) == 0

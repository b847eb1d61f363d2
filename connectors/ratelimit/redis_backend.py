"""Token buckets in Redis, shared by every worker process that talks to the same Redis.

One Lua script refills and takes in a single atomic step, so concurrent workers can neither
both take the last token nor lose a refill. Time comes from the caller's injected clock (epoch
seconds), not from Redis, so tests can run it on a scaled clock; worker hosts are expected to
keep their clocks in sync (NTP), and a clock running behind refills nothing rather than draining.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RedisBuckets"]

# KEYS[1] bucket hash; ARGV: default rate per second, capacity, now in epoch seconds.
# Hash fields: tokens, ts (last refill, epoch s), rate (observed rate per second, optional).
# A missing hash is a full bucket, so the key may expire once a full refill has passed.
_TAKE = """
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'rate')
local rate = tonumber(state[3]) or tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate)
  ts = now
end
if tokens > capacity then tokens = capacity end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1],
  'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', ts))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate * 2) + 60)
return string.format('%.17g', wait)
"""

# An observed rate outlives idle buckets for a day; the next response re-announces it anyway.
_RATE_TTL_S = 86_400


class RedisBuckets:
    """A `BucketStore` in Redis (redis-py client, any database)."""

    def __init__(self, client: Any, *, prefix: str = "ordervault:ratelimit:") -> None:
        self._client = client
        self._prefix = prefix
        self._take_script = client.register_script(_TAKE)

    def take(self, key: str, default_rate_per_s: float, capacity: float, now_s: float) -> float:
        wait = self._take_script(
            keys=[self._prefix + key],
            args=[repr(default_rate_per_s), repr(capacity), repr(now_s)],
        )
        return float(wait.decode() if isinstance(wait, bytes) else wait)

    def set_rate(self, key: str, rate_per_s: float) -> None:
        pipe = self._client.pipeline()
        pipe.hset(self._prefix + key, "rate", repr(rate_per_s))
        pipe.expire(self._prefix + key, _RATE_TTL_S)
        pipe.execute()

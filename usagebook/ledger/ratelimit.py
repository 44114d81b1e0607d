"""Per-key rate limits: a fixed one-minute window, counted in Redis when it is configured and in
this process otherwise.

Fixed windows (the count for key K in minute M) cost one Redis round trip (INCR, and EXPIRE on
the first count, in a small Lua script: atomic, so a counter never lives without its expiry, and
cheaper for this process than the same commands in a MULTI/EXEC pipeline) and are exact across
any number of processes. The known price: a client can spend a whole minute's allowance
at the end of one window and again at the start of the next.

A rate limit protects the service; it must never take it down. When Redis cannot be reached the
limiter counts in this process instead, logs that once, and tries Redis again after a pause.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from usagebook import metrics
from usagebook.errors import RateLimited

log = logging.getLogger("usagebook.ratelimit")

WINDOW_SECONDS = 60
REDIS_RETRY_SECONDS = 5.0  # how long to count locally after Redis failed before trying again
REDIS_TIMEOUT_SECONDS = 0.25  # a limiter that waits on a dead Redis would slow every request
KEY_PREFIX = "usagebook:ratelimit:"
# KEYS[1]: the key's counter for one window; ARGV[1]: its lifetime in seconds.
_INCR_WITH_EXPIRY = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""

Clock = Callable[[], float]


class LocalCounter:
    """Counts per key in this process for the current window only (older windows are dropped
    as soon as a new one starts, so memory stays bounded by the active keys)."""

    def __init__(self) -> None:
        self._window = -1
        self._counts: dict[str, int] = {}

    def incr(self, key_id: str, window: int) -> int:
        if window != self._window:
            self._window, self._counts = window, {}
        count = self._counts.get(key_id, 0) + 1
        self._counts[key_id] = count
        return count


class RateLimiter:
    """Allows `per_minute` requests per key per window; `per_minute == 0` turns it off."""

    def __init__(self, per_minute: int, redis: Redis | None = None,
                 clock: Clock = time.time, scope: str = "requests a minute per key") -> None:
        self.per_minute = per_minute
        self.scope = scope  # what is counted, for the refusal's message
        self._redis = redis
        # redis-py sends EVALSHA and loads the script again if Redis lost it (e.g. a restart).
        self._script = redis.register_script(_INCR_WITH_EXPIRY) if redis is not None else None
        self._clock = clock
        self._local = LocalCounter()
        self._redis_down_until = 0.0
        self._fell_back = False

    @classmethod
    def from_settings(cls, per_minute: int, redis_url: str | None,
                      scope: str = "requests a minute per key") -> RateLimiter:
        redis = None
        if redis_url and per_minute:
            redis = Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                   socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
        return cls(per_minute, redis, scope=scope)

    @property
    def shared(self) -> bool:
        """True while counts go to Redis (False when off, not configured, or falling back)."""
        return self._redis is not None and self._clock() >= self._redis_down_until

    async def check(self, key_id: str) -> None:
        """Count one request for `key_id` (any name of what is limited); raise RateLimited (with
        the seconds until the window ends) when it is over the limit."""
        if not self.per_minute:
            return
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        count = await self._incr(key_id, window, now)
        if count > self.per_minute:
            metrics.RATE_LIMITED.inc()
            retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
            raise RateLimited(
                f"Rate limit exceeded: {self.per_minute} {self.scope}", retry_after
            )

    async def _incr(self, key_id: str, window: int, now: float) -> int:
        if self._script is None or now < self._redis_down_until:
            return self._local.incr(key_id, window)
        try:
            # Two windows of life: enough for the window itself, short enough to clean up.
            keys = [f"{KEY_PREFIX}{key_id}:{window}"]
            count = int(await self._script(keys=keys, args=[2 * WINDOW_SECONDS]))
        except (RedisError, OSError) as exc:
            self._redis_down_until = now + REDIS_RETRY_SECONDS
            if not self._fell_back:
                log.warning("Redis unreachable (%s): rate limits counted per process",
                            type(exc).__name__)
                self._fell_back = True
            return self._local.incr(key_id, window)
        if self._fell_back:
            log.warning("Redis reachable again: rate limits shared across processes")
            self._fell_back = False
        return count

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


FAILED_AUTH_SCOPE = "requests with a missing or invalid key a minute per client address"
_MAX_BLOCKED = 100_000  # addresses remembered as blocked; expired ones go first


class AddressGuard:
    """Limits failed authentications per client address (`USAGEBOOK_FAILED_AUTH_PER_MINUTE`).

    `failed(address)` counts one failure (shared through Redis like any limit) and raises
    RateLimited once the address is over the limit; this process then remembers the address
    as blocked until the window ends, and `check(address)` refuses it with no round trip at
    all, before its key is looked up: guessing keys costs the guesser, not the database.
    """

    def __init__(self, counter: RateLimiter, clock: Clock = time.time) -> None:
        self._counter = counter
        self._clock = clock
        self._blocked: dict[str, float] = {}  # address -> end of its block (epoch seconds)

    @classmethod
    def from_settings(cls, per_minute: int, redis_url: str | None) -> AddressGuard:
        return cls(RateLimiter.from_settings(per_minute, redis_url, scope=FAILED_AUTH_SCOPE))

    def check(self, address: str) -> None:
        until = self._blocked.get(address)
        if until is None:
            return
        now = self._clock()
        if now >= until:
            del self._blocked[address]
            return
        metrics.RATE_LIMITED.inc()
        message = f"Rate limit exceeded: {self._counter.per_minute} {FAILED_AUTH_SCOPE}"
        raise RateLimited(message, max(1, math.ceil(until - now)))

    async def failed(self, address: str) -> None:
        try:
            await self._counter.check("addr:" + address)
        except RateLimited as exc:
            self._remember(address, self._clock() + exc.retry_after)
            raise

    def _remember(self, address: str, until: float) -> None:
        if len(self._blocked) >= _MAX_BLOCKED:
            now = self._clock()
            self._blocked = {a: end for a, end in self._blocked.items() if end > now}
        while len(self._blocked) >= _MAX_BLOCKED:
            del self._blocked[next(iter(self._blocked))]  # the oldest
        self._blocked[address] = until

    async def close(self) -> None:
        await self._counter.close()

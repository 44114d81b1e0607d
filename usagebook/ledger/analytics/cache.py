"""Answer caches: in-process by default, shared through Redis when one is configured.

A cache holds bytes under a string key for a number of milliseconds, and is bounded: however
many distinct answers clients ask for, it never holds more than its entry and byte budgets.

- `MemoryCache` keeps at most `max_entries` entries and `max_bytes` bytes, dropping expired
  entries first, then the oldest.
- `RedisCache` gives every key a TTL (at most ten minutes for analytics) and writes through a
  script that counts the entries and bytes written per budget window (`window_ms`, no shorter
  than any TTL): past a window's budget, answers are served but not cached. Every entry lives
  at most one window, so Redis holds at most two windows' budgets of this cache at once.
- A value over `max_entry_bytes` is never cached.

`RedisCache` never fails a request because Redis is down: it logs one warning per outage,
serves from an in-process cache meanwhile, and tries Redis again after a short pause.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

from usagebook.timeutil import now_ms

log = logging.getLogger("usagebook.cache")

RETRY_AFTER_SECONDS = 30.0
MIB = 1024 * 1024
MAX_LOCAL_ENTRIES = 1_000  # answers are ~50 KB for a busy account
MAX_LOCAL_BYTES = 64 * MIB
MAX_ENTRY_BYTES = 4 * MIB
REDIS_WINDOW_MS = 10 * 60_000  # no cached answer lives longer (analytics: ten minutes)
REDIS_WINDOW_ENTRIES = 5_000
REDIS_WINDOW_BYTES = 64 * MIB
# KEYS: the entry, the window's entry count, the window's byte count.
# ARGV: value, ttl ms, max entries, max bytes, counters' lifetime ms. Returns 1 when stored.
_BOUNDED_SET = """
local size = string.len(ARGV[1])
local entries = tonumber(redis.call('GET', KEYS[2]) or '0')
local bytes = tonumber(redis.call('GET', KEYS[3]) or '0')
if entries + 1 > tonumber(ARGV[3]) or bytes + size > tonumber(ARGV[4]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('INCRBY', KEYS[3], size)
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return 1
"""


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_ms: int) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    """A per-process cache; entries expire by wall-clock epoch ms."""

    def __init__(self, max_entries: int = MAX_LOCAL_ENTRIES, max_bytes: int = MAX_LOCAL_BYTES,
                 max_entry_bytes: int = MAX_ENTRY_BYTES) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.max_entry_bytes = min(max_entry_bytes, max_bytes)
        self._entries: dict[str, tuple[int, bytes]] = {}
        self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] <= now_ms():
            self._drop(key)
            return None
        return found[1]

    async def set(self, key: str, value: bytes, ttl_ms: int) -> None:
        if ttl_ms <= 0 or len(value) > self.max_entry_bytes:
            return
        self._drop(key)
        if not self._fits(len(value)):
            self._evict_expired()
        while not self._fits(len(value)):
            self._drop(next(iter(self._entries)))  # the oldest insertion
        self._entries[key] = (now_ms() + ttl_ms, value)
        self.size_bytes += len(value)

    async def close(self) -> None:
        self._entries.clear()
        self.size_bytes = 0

    def _fits(self, size: int) -> bool:
        return (len(self._entries) < self.max_entries
                and self.size_bytes + size <= self.max_bytes)

    def _drop(self, key: str) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            self.size_bytes -= len(found[1])

    def _evict_expired(self) -> None:
        now = now_ms()
        for key in [k for k, (expires, _) in self._entries.items() if expires <= now]:
            self._drop(key)


class RedisCache:
    """Shared by every process that uses the same Redis and prefix."""

    def __init__(self, url: str, prefix: str = "usagebook:",
                 window_entries: int = REDIS_WINDOW_ENTRIES,
                 window_bytes: int = REDIS_WINDOW_BYTES,
                 max_entry_bytes: int = MAX_ENTRY_BYTES) -> None:
        self._client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self._bounded_set = self._client.register_script(_BOUNDED_SET)
        self._prefix = prefix
        self._budget = (window_entries, window_bytes)
        self._max_entry_bytes = max_entry_bytes
        self._fallback = MemoryCache()
        self._down_until = 0.0
        self._warned = False

    async def get(self, key: str) -> bytes | None:
        if self._is_down():
            return await self._fallback.get(key)
        try:
            value = await self._client.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            return await self._fallback.get(key)
        self._warned = False
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_ms: int) -> None:
        if ttl_ms <= 0 or len(value) > self._max_entry_bytes:
            return
        ttl_ms = min(ttl_ms, REDIS_WINDOW_MS)  # the bound above needs it
        if self._is_down():
            await self._fallback.set(key, value, ttl_ms)
            return
        window = f"{self._prefix}cache-budget:{now_ms() // REDIS_WINDOW_MS}"
        try:
            await self._bounded_set(
                keys=[self._prefix + key, window + ":entries", window + ":bytes"],
                args=[value, ttl_ms, *self._budget, 2 * REDIS_WINDOW_MS])
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            await self._fallback.set(key, value, ttl_ms)

    async def close(self) -> None:
        await self._client.aclose()

    def _is_down(self) -> bool:
        return time.monotonic() < self._down_until

    def _went_down(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
        if not self._warned:
            self._warned = True
            log.warning("Redis cache unreachable (%s); caching in this process meanwhile",
                        type(exc).__name__)


def build_cache(redis_url: str | None, prefix: str = "usagebook:") -> Cache:
    return RedisCache(redis_url, prefix) if redis_url else MemoryCache()

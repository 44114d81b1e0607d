"""Answer caches: in-process by default, shared through Redis when one is configured.

A cache holds bytes under a string key for a number of milliseconds. `RedisCache` never fails a
request because Redis is down: it logs one warning per outage, serves from an in-process cache
meanwhile, and tries Redis again after a short pause.
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
_MAX_LOCAL_ENTRIES = 1_000  # answers are ~50 KB for a busy account: ~50 MB at most


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_ms: int) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    """A per-process cache; entries expire by wall-clock epoch ms."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, bytes]] = {}

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] <= now_ms():
            self._entries.pop(key, None)
            return None
        return found[1]

    async def set(self, key: str, value: bytes, ttl_ms: int) -> None:
        if ttl_ms <= 0:
            return
        if len(self._entries) >= _MAX_LOCAL_ENTRIES:
            self._evict_expired()
        if len(self._entries) >= _MAX_LOCAL_ENTRIES:
            self._entries.pop(next(iter(self._entries)))  # the oldest insertion
        self._entries[key] = (now_ms() + ttl_ms, value)

    async def close(self) -> None:
        self._entries.clear()

    def _evict_expired(self) -> None:
        now = now_ms()
        for key in [k for k, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]


class RedisCache:
    """Shared by every process that uses the same Redis and prefix."""

    def __init__(self, url: str, prefix: str = "usagebook:") -> None:
        self._client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self._prefix = prefix
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
        if ttl_ms <= 0:
            return
        if self._is_down():
            await self._fallback.set(key, value, ttl_ms)
            return
        try:
            await self._client.set(self._prefix + key, value, px=ttl_ms)
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



"""The analytics cache is bounded in entries and bytes, in process and in Redis, whatever
answers clients ask for, and every key it writes in Redis has a TTL."""

from __future__ import annotations

import asyncio
import secrets

from redis.asyncio import Redis

from usagebook.ledger.analytics.cache import MemoryCache, RedisCache

REDIS_URL = "redis://127.0.0.1:6379/0"
MINUTE_MS = 60_000


def test_the_memory_cache_holds_at_most_its_entries_and_bytes() -> None:
    async def fill() -> MemoryCache:
        cache = MemoryCache(max_entries=50, max_bytes=10_000, max_entry_bytes=1_000)
        for n in range(2_000):
            await cache.set(f"k{n}", b"x" * (n % 900 + 1), MINUTE_MS)
            assert len(cache) <= 50 and cache.size_bytes <= 10_000
        await cache.set("huge", b"y" * 1_001, MINUTE_MS)
        assert await cache.get("huge") is None  # never cached
        assert await cache.get("k1999") == b"x" * (1999 % 900 + 1)  # the newest stays
        await cache.set("k1999", b"z", MINUTE_MS)  # replacing counts the new size only
        assert await cache.get("k1999") == b"z"
        return cache

    cache = asyncio.run(fill())
    assert cache.size_bytes == sum(len(v) for _, v in cache._entries.values())


def test_redis_holds_at_most_two_windows_of_budget_and_every_key_has_a_ttl() -> None:
    prefix = f"usagebook-test-{secrets.token_hex(6)}:"

    async def fill() -> None:
        cache = RedisCache(REDIS_URL, prefix, window_entries=20, window_bytes=5_000,
                           max_entry_bytes=1_000)
        client = Redis.from_url(REDIS_URL)
        try:
            for n in range(300):
                await cache.set(f"k{n}", b"v" * (n % 700 + 1), 10 * MINUTE_MS)
            await cache.set("huge", b"h" * 1_001, MINUTE_MS)
            keys = [key async for key in client.scan_iter(match=prefix + "*")]
            entries = [key for key in keys if b"cache-budget" not in key]
            assert 0 < len(entries) <= 2 * 20 and prefix.encode() + b"huge" not in entries
            stored = sum([await client.strlen(key) for key in entries])
            assert stored <= 2 * 5_000
            for key in keys:
                assert 0 < await client.pttl(key) <= 20 * MINUTE_MS, key
            assert await cache.get("k0") == b"v"  # what was stored is served
        finally:
            keys = [key async for key in client.scan_iter(match=prefix + "*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()
            await cache.close()

    asyncio.run(fill())

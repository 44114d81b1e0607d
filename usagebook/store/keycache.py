"""API keys by the hash of their secret, kept a few seconds in each process for authentication.

Guarantee: a key read from the database is served from here for at most `TTL_SECONDS` (4 s),
counted from the moment its read *began*, so whatever the read saw was true at most 4 s before
the entry is last used. A revocation that has returned is therefore seen by every process of
every host within 5 s, with or without Redis, even when Redis is down or a message is lost.

With Redis configured, a revocation is also published on `CHANNEL`, and every subscribed process
drops the key at once: then a revocation usually takes effect within milliseconds. The TTL stays
the guarantee; the message only makes it faster.

Only found keys are cached (an unknown secret always costs a lookup), at most `MAX_ENTRIES`.
`POST /usage/authorize` must read key state fresh and does not use this cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from usagebook.store.rows import KeyRow

log = logging.getLogger("usagebook.keycache")

TTL_SECONDS = 4.0
MAX_ENTRIES = 10_000
CHANNEL = "usagebook:keys:revoked"
REDIS_TIMEOUT_SECONDS = 0.5
RESUBSCRIBE_SECONDS = 1.0

Clock = Callable[[], float]


class KeyCache:
    def __init__(self, redis_url: str | None = None, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._redis_url = redis_url or None
        # Publishing must never hold a revocation up: short timeouts. The listener's own
        # client (in `_listen`) has no read timeout, since it waits for messages.
        self._redis = Redis.from_url(
            redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS) if redis_url else None
        self._entries: dict[str, tuple[float, KeyRow]] = {}  # hash -> (read began, row)
        self._hash_of: dict[str, str] = {}  # key id -> hash
        self._listener: asyncio.Task[None] | None = None

    def get(self, secret_hash: str) -> KeyRow | None:
        """The cached key for this hash, or None when absent or older than the TTL."""
        found = self._entries.get(secret_hash)
        if found is None:
            return None
        if self.clock() - found[0] >= TTL_SECONDS:
            self._drop(secret_hash)
            return None
        return found[1]

    def put(self, secret_hash: str, row: KeyRow, read_began: float) -> None:
        """Cache `row`, read by a lookup that began at `read_began` (this cache's clock)."""
        if len(self._entries) >= MAX_ENTRIES:
            self.clear()
        self._entries[secret_hash] = (read_began, row)
        self._hash_of[row.id] = secret_hash

    def forget(self, key_id: str) -> None:
        """Drop a key from this process's cache."""
        secret_hash = self._hash_of.get(key_id)
        if secret_hash is not None:
            self._drop(secret_hash)

    def clear(self) -> None:
        self._entries.clear()
        self._hash_of.clear()

    async def revoked(self, key_id: str) -> None:
        """Called once a revocation has committed: drop the key here, and tell every other
        process through Redis (best effort: the TTL bounds the delay if this is lost)."""
        self.forget(key_id)
        if self._redis is None:
            return
        try:
            await self._redis.publish(CHANNEL, key_id)
        except (RedisError, OSError) as exc:
            log.warning("key revocation not published (%s): other processes drop the key "
                        "within %.0f s", type(exc).__name__, TTL_SECONDS)

    def start(self) -> None:
        """Listen for revocations published by other processes (with Redis; call in a running
        event loop, e.g. the app's lifespan)."""
        if self._redis_url is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen(self._redis_url))

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._redis is not None:
            await self._redis.aclose()
        self.clear()

    def _drop(self, secret_hash: str) -> None:
        found = self._entries.pop(secret_hash, None)
        if found is not None:
            self._hash_of.pop(found[1].id, None)

    async def _listen(self, redis_url: str) -> None:
        redis = Redis.from_url(redis_url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
        try:
            await self._listen_on(redis)
        finally:
            await redis.aclose()

    async def _listen_on(self, redis: Redis) -> None:
        while True:
            try:
                async with redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    # Messages sent while unsubscribed are lost: start from an empty cache.
                    self.clear()
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                           timeout=None)
                        if message is not None and message["type"] == "message":
                            self.forget(message["data"].decode())
            except (RedisError, OSError) as exc:
                log.info("key revocation channel lost (%s); resubscribing", type(exc).__name__)
                await asyncio.sleep(RESUBSCRIBE_SECONDS)

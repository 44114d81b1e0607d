"""Per-key rate limits: the limiter itself (counted locally and through the real Redis), and the
429 StandardError with Retry-After that customer routes answer."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from tests.support.clock import FrozenClock
from tests.support.harness import OPERATOR_TOKEN, Harness, Tenant
from tests.support.servers import ScratchRedis, free_port
from usagebook.app import create_app
from usagebook.errors import RateLimited
from usagebook.ledger.ratelimit import REDIS_RETRY_SECONDS, RateLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"
USAGE = "/api/v1/billing/usage"
MINUTE_START = 60.0 * 100_000  # a clock reading at the very start of a window





def key_id() -> str:
    return "key_test_" + secrets.token_hex(8)  # unique, so runs sharing Redis never collide


async def outcomes(limiter: RateLimiter, key: str, calls: int) -> list[int | None]:
    """None for an allowed call, else the Retry-After of the refusal."""
    found: list[int | None] = []
    for _ in range(calls):
        try:
            await limiter.check(key)
            found.append(None)
        except RateLimited as exc:
            found.append(exc.retry_after)
    return found


def test_local_limit_counts_per_key_and_resets_each_minute() -> None:
    asyncio.run(_local_limit())


async def _local_limit() -> None:
    clock = FrozenClock(MINUTE_START + 45.2)  # 45.2 s into a minute
    limiter = RateLimiter(3, clock=clock)
    first, second = key_id(), key_id()
    assert await outcomes(limiter, first, 5) == [None, None, None, 15, 15]
    assert await outcomes(limiter, second, 3) == [None, None, None]
    clock.now += 15  # the next window
    assert await outcomes(limiter, first, 4) == [None, None, None, 60]


def test_zero_turns_the_limit_off() -> None:
    assert asyncio.run(outcomes(RateLimiter(0), key_id(), 50)) == [None] * 50


def test_redis_shares_one_count_between_processes() -> None:
    asyncio.run(_shared_count())


async def _shared_count() -> None:
    clock = FrozenClock(MINUTE_START + 10)
    one, two = (RateLimiter(4, Redis.from_url(REDIS_URL), clock=clock) for _ in range(2))
    key = key_id()
    try:
        assert await outcomes(one, key, 2) == [None, None]
        assert await outcomes(two, key, 3) == [None, None, 50]
        assert await outcomes(one, key, 1) == [50]
        assert one.shared and two.shared
    finally:
        await one.close()
        await two.close()


def test_unreachable_redis_falls_back_to_counting_locally_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RateLimiter.from_settings(3, f"redis://127.0.0.1:{free_port()}/0")

    async def calls() -> list[int | None]:
        try:
            return await outcomes(limiter, key_id(), 5)
        finally:
            await limiter.close()

    with caplog.at_level(logging.WARNING, logger="usagebook.ratelimit"):
        found = asyncio.run(calls())
    assert found[:3] == [None, None, None]
    assert all(retry is not None and retry > 0 for retry in found[3:])
    assert not limiter.shared
    warnings = [r for r in caplog.records if r.name == "usagebook.ratelimit"]
    assert len(warnings) == 1 and "per process" in warnings[0].getMessage()


def test_a_restarted_redis_is_used_again_after_the_pause() -> None:
    redis = ScratchRedis()  # its own server: this test stops it
    clock = FrozenClock(MINUTE_START + 5)
    limiter = RateLimiter(100, Redis.from_url(redis.url), clock=clock)
    key = key_id()

    async def counted(calls: int) -> int:
        await outcomes(limiter, key, calls)
        async with Redis.from_url(redis.url) as direct:
            return int(await direct.get(f"usagebook:ratelimit:{key}:{int(clock.now // 60)}") or 0)

    async def scenario() -> None:
        try:
            assert await counted(2) == 2
            redis.stop()
            assert await outcomes(limiter, key, 3) == [None] * 3  # counted locally meanwhile
            assert not limiter.shared
            redis.start()  # an empty Redis: no counters, no loaded script
            clock.now += REDIS_RETRY_SECONDS + 1
            assert await counted(4) == 4 and limiter.shared
        finally:
            await limiter.close()

    try:
        asyncio.run(scenario())
    finally:
        redis.stop()


@pytest.fixture
def limited(harness: Harness) -> Iterator[TestClient]:
    """The harness's backend served by an app of its own with a limit of 3 a minute."""
    settings = replace(harness.settings, rate_limit_per_minute=3)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def freeze(client: TestClient, per_minute: int, redis_url: str | None = None) -> FrozenClock:
    """Swap the app's limiter for one on a frozen clock, so no minute boundary falls mid-test."""
    clock = FrozenClock(MINUTE_START + 30)
    redis = Redis.from_url(redis_url) if redis_url else None
    client.app.state.rate_limiter = RateLimiter(per_minute, redis, clock=clock)  # type: ignore[attr-defined]
    return clock


def test_settings_limit_customer_routes(limited: TestClient, tenant: Tenant) -> None:
    # 8 calls against a limit of 3 must meet a 429 even if a minute boundary falls among them.
    statuses = [limited.get(USAGE, headers=tenant.admin).status_code for _ in range(8)]
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses


def test_over_the_limit_is_a_429_standard_error_with_retry_after(
    limited: TestClient, harness: Harness, tenant: Tenant
) -> None:
    freeze(limited, 3)
    for _ in range(3):
        assert limited.get(USAGE, headers=tenant.admin).status_code == 200
    refused = limited.get(USAGE, headers=tenant.admin)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "30"
    assert set(refused.json()) == {"error"} and "Rate limit" in refused.json()["error"]
    assert refused.headers["x-request-id"]
    # Per key: another ADMIN key of the same account, and other accounts, are untouched.
    other = harness.tenant("neighbour")
    assert limited.get(USAGE, headers=other.admin).status_code == 200
    # Service endpoints are not customer routes.
    assert all(limited.get("/healthz").status_code == 200 for _ in range(5))


def test_every_customer_endpoint_is_limited_and_the_count_is_per_key_across_them(
    limited: TestClient, harness: Harness
) -> None:
    freeze(limited, 3)
    paths = sorted(path for path in limited.get("/openapi.json").json()["paths"]
                   if path.startswith("/api/v1/billing/"))
    assert len(paths) >= 5  # usage, usage-history, usage-analytics, balance, credits
    for path in paths:
        tenant = harness.tenant("limited")
        assert [limited.get(path, headers=tenant.admin).status_code for _ in range(4)] == [
            200, 200, 200, 429], path
    shared = harness.tenant("one key, every endpoint")
    statuses = [limited.get(path, headers=shared.admin).status_code for path in paths[:4]]
    assert statuses == [200, 200, 200, 429]


def test_the_operators_recording_endpoint_is_not_limited(
    limited: TestClient, tenant: Tenant
) -> None:
    freeze(limited, 3)
    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    for n in range(6):
        event = {"requestId": f"rl-{n}", "sku": "llama-3.3-70b-llm-input-mtoken", "units": "1",
                 "accountId": tenant.account_id}
        answer = limited.post("/api/v1/usage/events", json={"events": [event]}, headers=operator)
        assert answer.status_code == 200, answer.text
    statuses = [limited.get(USAGE, headers=tenant.admin).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # while the customer key itself is limited


def test_limit_is_shared_through_redis_between_two_apps(harness: Harness, tenant: Tenant) -> None:
    settings = replace(harness.settings, rate_limit_per_minute=3, redis_url=REDIS_URL)
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        freeze(one, 3, REDIS_URL).now = freeze(two, 3, REDIS_URL).now = MINUTE_START + 1
        assert [one.get(USAGE, headers=tenant.admin).status_code for _ in range(2)] == [200, 200]
        assert two.get(USAGE, headers=tenant.admin).status_code == 200
        assert two.get(USAGE, headers=tenant.admin).status_code == 429
        assert one.get(USAGE, headers=tenant.admin).status_code == 429

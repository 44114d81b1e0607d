"""The 10-minute analytics cache: in-process by default, shared through Redis when configured,
and never a reason for a request to fail."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.analytics import PATH, entry, today
from tests.support.factories import store_entries
from tests.support.harness import Harness, Tenant, make_settings
from usagebook.app import create_app
from usagebook.ledger.accounts import create_account
from usagebook.ledger.analytics.cache import MemoryCache, RedisCache
from usagebook.ledger.analytics.summary import cache_ttl_ms
from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.ledger.keys import KeyType, create_key
from usagebook.store.rows import NewEntry
from usagebook.timeutil import to_ms

SHARED_REDIS = "redis://127.0.0.1:6379/0"
CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"


def _flux(tenant: Tenant, request_id: str, units: str = "1") -> list[NewEntry]:
    return [entry(tenant.account_id, "flux-dev-image-unit", units, "USD", day=today(),
                  request_id=request_id)]


def test_answers_are_cached_per_account_and_days(harness: Harness, tenant: Tenant) -> None:
    harness.call(lambda db: store_entries(db, _flux(tenant, "a")))
    first = harness.get(PATH, tenant, params={"lookback": "2d"})
    harness.call(lambda db: store_entries(db, _flux(tenant, "b")))
    again = harness.get(PATH, tenant, params={"lookback": "2d"})
    assert again.json() == first.json()  # the cached answer, not yet the new entry
    by_dates = harness.get(PATH, tenant, params={
        "startDate": (today() - timedelta(days=1)).isoformat(), "endDate": today().isoformat()})
    assert by_dates.json() == {**first.json(), "lookback": by_dates.json()["lookback"]}
    assert by_dates.json()["lookback"] != "2d"
    fresh = harness.get(PATH, tenant, params={"lookback": "3d"}).json()  # other days: computed
    assert fresh["byDate"][-1]["USD"] == 0.02


@pytest.mark.parametrize(("moment", "expected_ms"), [
    (datetime(2026, 6, 15, 12, 0, tzinfo=UTC), 600_000),
    (datetime(2026, 6, 15, 23, 55, tzinfo=UTC), 300_000),
    (datetime(2026, 6, 15, 23, 59, 59, 999_000, tzinfo=UTC), 1),
])
def test_a_cached_answer_never_outlives_its_utc_day(moment: datetime, expected_ms: int) -> None:
    assert cache_ttl_ms(to_ms(moment)) == expected_ms


def test_memory_cache_expires() -> None:
    async def run() -> tuple[bytes | None, bytes | None]:
        cache = MemoryCache()
        await cache.set("k", b"v", 60_000)
        await cache.set("gone", b"v", 0)
        return await cache.get("k"), await cache.get("gone")

    assert asyncio.run(run()) == (b"v", None)


def _app(database_url: str, redis_url: str, prefix: str | None) -> TestClient:
    client = TestClient(create_app(make_settings(database_url, redis_url=redis_url))).__enter__()
    app: Any = client.app
    assert isinstance(app.state.analytics_cache, RedisCache)
    if prefix is not None:  # this test run's own keys in the shared Redis
        assert client.portal is not None
        client.portal.call(app.state.analytics_cache.close)
        app.state.analytics_cache = RedisCache(redis_url, prefix)
    return client


@pytest.fixture
def two_apps(database_urls: dict[str, str]) -> Iterator[list[TestClient]]:
    """Two app instances on one PostgreSQL database and one Redis, as two server processes."""
    prefix = f"usagebook-test-{secrets.token_hex(6)}:"
    clients = [_app(database_urls["postgresql"], SHARED_REDIS, prefix) for _ in range(2)]
    yield clients
    for client in clients:
        client.__exit__(None, None, None)


def _tenant(client: TestClient) -> Tenant:
    async def make() -> Tenant:
        database = client.app.state.database  # type: ignore[attr-defined]
        await upsert_catalog(database, DEMO_CATALOG)
        account = await create_account(database, "cache test")
        admin = await create_key(database, account.id, KeyType.ADMIN, "admin")
        inference = await create_key(database, account.id, KeyType.INFERENCE, "inference")
        return Tenant(account.id, admin.secret, inference.secret, admin.row.id, inference.row.id)

    assert client.portal is not None
    return client.portal.call(make)


def _store(client: TestClient, made: list[NewEntry]) -> None:
    assert client.portal is not None
    client.portal.call(store_entries, client.app.state.database, made)  # type: ignore[attr-defined]


def test_two_processes_share_answers_through_redis(two_apps: list[TestClient]) -> None:
    first, second = two_apps
    tenant = _tenant(first)
    _store(first, _flux(tenant, "a"))
    answer = first.get(PATH, params={"lookback": "3d"}, headers=tenant.admin)
    _store(first, _flux(tenant, "b"))
    shared = second.get(PATH, params={"lookback": "3d"}, headers=tenant.admin)
    assert shared.status_code == 200
    assert shared.content == answer.content  # made by the first app, before the new entry
    computed = second.get(PATH, params={"lookback": "4d"}, headers=tenant.admin).json()
    assert computed["byDate"][-1]["USD"] == 0.02


def test_unreachable_redis_never_fails_a_request(
    database_urls: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    client = _app(database_urls["postgresql"], CLOSED_PORT_REDIS, None)
    try:
        tenant = _tenant(client)
        _store(client, _flux(tenant, "a"))
        with caplog.at_level(logging.WARNING, logger="usagebook.cache"):
            answers = [client.get(PATH, params={"lookback": f"{n}d"}, headers=tenant.admin)
                       for n in (1, 2, 1)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        _store(client, _flux(tenant, "b"))
        # Still cached meanwhile, in this process.
        assert client.get(PATH, params={"lookback": "1d"}, headers=tenant.admin).content == \
            answers[0].content
        warnings = [r for r in caplog.records if r.name == "usagebook.cache"]
        assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    finally:
        client.__exit__(None, None, None)

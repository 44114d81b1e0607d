"""A query that overruns the time limit ends as a 504, instead of holding the request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import asyncpg
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.support.analytics import PATH, SKUS, entry, today
from tests.support.factories import store_entries
from tests.support.harness import Harness, Tenant, make_settings
from usagebook.app import create_app
from usagebook.errors import QueryTimeout
from usagebook.store.analytics import TIMEOUT_MESSAGE, analytics_snapshot
from usagebook.store.engine import Database

SLOW_SQL = {
    "postgresql": "SELECT pg_sleep(30)",
    # About a hundred million steps of SQLite's VM: many seconds unless something stops it.
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000)"
              " SELECT count(*) FROM n",
}


def test_a_slow_statement_in_the_snapshot_raises_query_timeout(harness: Harness) -> None:
    async def slow(db: Database) -> None:
        async with analytics_snapshot(db, 0.2) as conn:
            await conn.execute(text(SLOW_SQL[harness.backend]))

    with pytest.raises(QueryTimeout):
        harness.call(slow)

    async def quick(db: Database) -> int:
        async with analytics_snapshot(db, 5) as conn:  # the connection is fine afterwards
            return int((await conn.execute(text("SELECT 1"))).scalar_one())

    assert harness.call(quick) == 1


def test_each_statement_is_planned_for_its_own_parameters(harness: Harness) -> None:
    """A generic plan knows none of the term arrays store.bucket_sums sends (one took 1.5 s
    where the custom plan takes 18 ms, from the sixth run on a connection); JIT and parallel
    workers cost such short statements more than they save (docs/performance.md)."""
    if harness.backend != "postgresql":
        pytest.skip("SQLite has no plan cache, JIT or parallel workers")

    async def settings(db: Database) -> list[str]:
        async with analytics_snapshot(db, 5) as conn:
            found = await conn.execute(text(
                "SELECT current_setting('plan_cache_mode'), current_setting('jit'), "
                "current_setting('max_parallel_workers_per_gather')"))
            return list(found.one())

    assert harness.call(settings) == ["force_custom_plan", "off", "0"]


@pytest.fixture
def impatient(harness: Harness, database_urls: dict[str, str]) -> Iterator[TestClient]:
    """The same database served with a time limit far below what any analytics query takes."""
    limit = 0.2 if harness.backend == "postgresql" else 1e-6
    settings = make_settings(database_urls[harness.backend], query_timeout_seconds=limit)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _busy_tenant(harness: Harness, tenant: Tenant) -> None:
    names = sorted(SKUS)
    made = [entry(tenant.account_id, names[n % len(names)], "1", ("USD", "DIEM")[n % 2],
                  day=today() - timedelta(days=n % 90), request_id=f"t{n}") for n in range(400)]
    harness.call(lambda db: store_entries(db, made))


def test_an_overrun_answers_504(
    harness: Harness, tenant: Tenant, impatient: TestClient, database_urls: dict[str, str]
) -> None:
    _busy_tenant(harness, tenant)
    if harness.backend == "postgresql":
        answer = _while_rollups_are_locked(database_urls["postgresql"], impatient, tenant)
    else:
        answer = impatient.get(PATH, params={"lookback": "90d"}, headers=tenant.admin)
    assert answer.status_code == 504, answer.text
    assert answer.json() == {"error": TIMEOUT_MESSAGE}
    assert harness.get(PATH, tenant, params={"lookback": "90d"}).status_code == 200


def _while_rollups_are_locked(url: str, client: TestClient, tenant: Tenant) -> httpx.Response:
    """A real wait: another transaction holds the rollup table exclusively (for at most 10 s,
    so a missing time limit fails the test instead of hanging it)."""
    async def locked() -> httpx.Response:
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE rollup_day_currency IN ACCESS EXCLUSIVE MODE")
                return await asyncio.wait_for(asyncio.to_thread(
                    client.get, PATH, params={"lookback": "90d"}, headers=tenant.admin), 10)
        finally:
            await conn.close()

    return asyncio.run(locked())

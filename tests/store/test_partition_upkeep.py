"""Long-running servers make the ledger's coming months by themselves (PostgreSQL).

Two `usagebook serve` processes share one database, each checking its partitions every 0.2 s.
With the migration lock held (so no check runs), the test takes away this month's partition
and the furthest one ahead, as if the servers had run into months nobody made, and records an
event: it lands in the default partition. Once the lock is free, the servers make both months
again, each once between them, and move the event out of the default partition into its
month; the next events land in their months' partitions, the coming month's included.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.support.harness import OPERATOR_TOKEN, Tenant
from tests.support.served import SECRET_KEY, seed_tenant, server_env
from tests.support.servers import UsagebookServer
from usagebook.api.recording import record_body
from usagebook.ledger.catalog import DEMO_CATALOG
from usagebook.settings import Settings
from usagebook.store.engine import create_database
from usagebook.store.migrate import MIGRATION_LOCK
from usagebook.store.partitions import DEFAULT, MONTHS_AHEAD, Month
from usagebook.timeutil import now_ms

pytestmark = pytest.mark.slow  # two real servers

SKU = DEMO_CATALOG[0].sku


def _record(server: UsagebookServer, tenant: Tenant, request_id: str) -> None:
    body = {"events": [{"requestId": request_id, "sku": SKU, "units": "1.5",
                        "apiKeyId": tenant.inference_key_id}]}
    answer = httpx.post(server.base_url + "/api/v1/usage/events", json=body, timeout=15,
                        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    assert answer.status_code == 200, answer.text


async def _where(conn: asyncpg.Connection, request_id: str) -> str:
    return str(await conn.fetchval(
        "SELECT tableoid::regclass::text FROM usage_entries WHERE request_id = $1", request_id))


async def _partitions(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT c.relname FROM pg_inherits i JOIN pg_class c "
                            "ON c.oid = i.inhrelid WHERE i.inhparent = 'usage_entries'::regclass")
    return {row["relname"] for row in rows}


async def _until(seconds: float, check: Callable[[], Awaitable[bool]]) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not within the time allowed"
        await asyncio.sleep(0.1)


def test_running_servers_make_missing_months_and_empty_the_default(
    fresh_postgres: str, tmp_path: Path
) -> None:
    tenant = seed_tenant(fresh_postgres)
    started = [UsagebookServer(server_env(fresh_postgres, USAGEBOOK_PARTITION_CHECK_SECONDS="0.2"),
                               tmp_path / f"server-{n}.log") for n in range(2)]
    now, ahead = Month.of(now_ms()), Month.of(now_ms()).following(MONTHS_AHEAD)
    try:
        for server in started:
            server.start()
        asyncio.run(_scenario(fresh_postgres, tenant, started, now, ahead))
    finally:
        for server in started:
            server.stop()
    lines = [json.loads(line) for server in started
             for line in server.log_path.read_text().splitlines()]
    # Each month was made once between the two servers, and the rows moved out of the default
    # partition were logged as a warning.
    made = [name for line in lines if line["msg"] == "ledger partitions created"
            for name in line["partitions"]]
    assert sorted(made) == sorted([now.table, ahead.table])
    moved = [line for line in lines if line.get("partition") == now.table and "rows" in line]
    assert [(line["level"], line["rows"]) for line in moved] == [("warning", 1)], moved


async def _scenario(url: str, tenant: Tenant, started: list[UsagebookServer], now: Month,
                    ahead: Month) -> None:
    conn = await asyncpg.connect(url)
    try:
        assert {now.table, ahead.table} <= await _partitions(conn)  # made by migrate
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        await conn.execute(f"DROP TABLE {now.table}, {ahead.table}")
        await asyncio.to_thread(_record, started[0], tenant, "stray")
        assert await _where(conn, "stray") == DEFAULT
        await asyncio.sleep(1)  # checks come every 0.2 s, and wait for the lock
        assert now.table not in await _partitions(conn)
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)

        async def remade() -> bool:
            return {now.table, ahead.table} <= await _partitions(conn)

        await _until(15, remade)
        assert await _where(conn, "stray") == now.table
        assert await conn.fetchval(f"SELECT count(*) FROM {DEFAULT}") == 0
        await asyncio.to_thread(_record, started[1], tenant, "after")
        assert await _where(conn, "after") == now.table
        # The coming month: recorded as if received then (the server's clock is today's).
        await _record_at(url, tenant, "ahead", _middle(ahead))
        assert await _where(conn, "ahead") == ahead.table
    finally:
        await conn.close()


async def _record_at(url: str, tenant: Tenant, request_id: str, received_ms: int) -> None:
    settings = Settings.from_env({}, database_url=url, secret_key=SECRET_KEY)
    db = create_database(settings)
    try:
        body = {"events": [{"requestId": request_id, "sku": SKU, "units": "2",
                            "apiKeyId": tenant.inference_key_id}]}
        results = await record_body(db, body, received_ms=received_ms)
        assert [result.status for result in results] == ["recorded"]
    finally:
        await db.dispose()


def _middle(month: Month) -> int:
    return int(datetime(month.year, month.month, 15, 12, tzinfo=UTC).timestamp() * 1000)

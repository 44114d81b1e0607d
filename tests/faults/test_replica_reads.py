"""Reads that may lag (analytics, export) go to a streaming standby while it is close enough,
and to the primary past the configured lag; balances and pages always read the primary.

The standby is a real hot standby of the scratch primary (pg_basebackup); lag is made by pausing
its WAL replay, so what each read returns tells where it was served from."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from fastapi.testclient import TestClient

from tests.support.harness import OPERATOR_TOKEN
from tests.support.servers import ScratchPostgres, ScratchStandby
from usagebook.api.export import ExportQuery, export_entries
from usagebook.app import create_app
from usagebook.ledger.accounts import create_account
from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.ledger.keys import KeyType, create_key
from usagebook.settings import Settings
from usagebook.store.engine import create_database
from usagebook.store.migrate import upgrade

SECRET = "replica-secret-" + "x" * 32
SKU = "llama-3.3-70b-llm-input-mtoken"


@pytest.fixture(scope="module")
def primary_and_standby() -> Iterator[tuple[ScratchPostgres, ScratchStandby]]:
    primary = ScratchPostgres()
    upgrade(Settings.from_env({}, database_url=primary.url, secret_key=SECRET).database_url)
    standby = ScratchStandby(primary)
    yield primary, standby
    standby.destroy()
    primary.destroy()


def settings(primary: ScratchPostgres, standby: ScratchStandby, max_lag: float) -> Settings:
    return Settings.from_env({}, database_url=primary.url, read_database_url=standby.url,
                             secret_key=SECRET, operator_token=OPERATOR_TOKEN,
                             rate_limit_per_minute=0, max_replica_lag_seconds=max_lag)


def standby_sql(standby: ScratchStandby, sql: str) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(standby.url.replace("/usagebook", "/postgres"))
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(run())


def caught_up(primary: ScratchPostgres, standby: ScratchStandby) -> None:
    async def positions() -> tuple[Any, Any]:
        p = await asyncpg.connect(primary.url)
        s = await asyncpg.connect(standby.url)
        try:
            return (await p.fetchval("SELECT pg_current_wal_lsn()"),
                    await s.fetchval("SELECT pg_last_wal_replay_lsn()"))
        finally:
            await p.close()
            await s.close()

    for _ in range(200):
        written, replayed = asyncio.run(positions())
        if replayed >= written:
            return
        asyncio.run(asyncio.sleep(0.05))
    raise AssertionError("the standby did not catch up")


def record(client: TestClient, account_id: str, request_id: str) -> None:
    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    answer = client.post("/api/v1/usage/events", headers=operator,
                         json={"events": [{"requestId": request_id, "sku": SKU, "units": "1",
                                           "accountId": account_id}]})
    assert answer.status_code == 200, answer.text


def exported_ids(app_settings: Settings, account_id: str) -> list[str]:
    async def run() -> list[str]:
        db = create_database(app_settings)
        out = io.BytesIO()
        try:
            await export_entries(db, ExportQuery(account_id, "jsonl"), out)
        finally:
            await db.dispose()
        return [json.loads(line)["inferenceDetails"]["requestId"]
                for line in out.getvalue().decode().splitlines()]

    return asyncio.run(run())


def test_lagging_reads_use_the_standby_only_within_the_bound(
    primary_and_standby: tuple[ScratchPostgres, ScratchStandby],
) -> None:
    primary, standby = primary_and_standby
    app_settings = settings(primary, standby, max_lag=3600)
    with TestClient(create_app(app_settings)) as client:
        db = client.app.state.database  # type: ignore[attr-defined]

        async def setup() -> tuple[str, str]:
            await upsert_catalog(db, DEMO_CATALOG)
            account = await create_account(db, "replica")
            key = await create_key(db, account.id, KeyType.ADMIN, "admin")
            return account.id, key.secret

        account_id, admin_key = client.portal.call(setup)  # type: ignore[union-attr]
        record(client, account_id, "before-pause")
        caught_up(primary, standby)
        assert exported_ids(app_settings, account_id) == ["before-pause"]

        standby_sql(standby, "SELECT pg_wal_replay_pause()")
        try:
            record(client, account_id, "while-paused")
            headers = {"Authorization": f"Bearer {admin_key}"}
            # A page reads the primary: it sees its own write at once.
            page = client.get("/api/v1/billing/usage", headers=headers).json()
            assert page["pagination"]["total"] == 2
            # Within a generous bound the export is served by the (paused) standby ...
            assert exported_ids(app_settings, account_id) == ["before-pause"]
            # ... and past a tight one by the primary.
            tight = settings(primary, standby, max_lag=0.0)
            assert exported_ids(tight, account_id) == ["before-pause", "while-paused"]
            metrics = client.get("/metrics").text
            assert "usagebook_replica_lag_seconds" in metrics
        finally:
            standby_sql(standby, "SELECT pg_wal_replay_resume()")
        caught_up(primary, standby)
        assert exported_ids(app_settings, account_id) == ["before-pause", "while-paused"]

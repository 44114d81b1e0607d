"""Revision 0002 backfills balances from the entries stored before it, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.factories import random_entries
from tests.support.harness import create_postgres_database
from usagebook.settings import normalise_database_url
from usagebook.store.migrate import upgrade
from usagebook.store.tables.accounts import accounts
from usagebook.store.tables.balances import account_balances, diem_days
from usagebook.store.tables.entries import usage_entries
from usagebook.timeutil import MS_PER_DAY


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield normalise_database_url(f"sqlite:///{tmp_path / 'pre-0002.db'}")
        return
    url, drop = create_postgres_database()
    try:
        yield normalise_database_url(url)
    finally:
        drop()


def test_upgrade_backfills_balances_from_stored_entries(fresh_url: str) -> None:
    upgrade(fresh_url, "0001")
    entries = random_entries("acct_a", 60, seed=11) + random_entries("acct_b", 40, seed=12)

    async def before() -> None:
        engine = create_async_engine(fresh_url)
        async with engine.begin() as conn:
            for account in ("acct_a", "acct_b"):
                await conn.execute(accounts.insert().values(id=account, name=account, created_ms=0))
            await conn.execute(
                usage_entries.insert(),
                [{name: getattr(e, name) for name in e.__slots__ if name != "tags"}
                 for e in entries],
            )
        await engine.dispose()

    async def after() -> tuple[dict[tuple[str, str], Decimal], dict[tuple[str, int], Decimal]]:
        engine = create_async_engine(fresh_url)
        async with engine.connect() as conn:
            ab = account_balances.c
            credits = {
                (r.account_id, r.currency): r.consumed
                for r in await conn.execute(
                    select(ab.account_id, ab.currency, ab.consumed, ab.granted)
                )
            }
            dd = diem_days.c
            days = {
                (r.account_id, r.day): r.consumed
                for r in await conn.execute(select(dd.account_id, dd.day, dd.consumed))
            }
        await engine.dispose()
        return credits, days

    asyncio.run(before())
    upgrade(fresh_url, "0002")
    credits, days = asyncio.run(after())
    expected_credits: dict[tuple[str, str], Decimal] = {}
    expected_days: dict[tuple[str, int], Decimal] = {}
    for e in entries:
        if e.currency == "DIEM":
            key = (e.account_id, e.ts_ms // MS_PER_DAY)
            expected_days[key] = expected_days.get(key, Decimal(0)) - e.amount
        else:
            key2 = (e.account_id, e.currency)
            expected_credits[key2] = expected_credits.get(key2, Decimal(0)) - e.amount
    assert credits == expected_credits
    assert days == expected_days
    assert expected_days and len(expected_credits) == 4

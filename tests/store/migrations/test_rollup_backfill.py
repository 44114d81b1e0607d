"""Migration 0004 fills the rollups from entries stored before it existed (both backends)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests.support.factories import random_entries
from tests.support.harness import TEST_SECRET, create_postgres_database
from tests.support.projections import PROJECTIONS, grain_rollups
from usagebook.settings import Settings
from usagebook.store.engine import Database, create_database
from usagebook.store.migrate import upgrade
from usagebook.store.rollups import NO_KEY, day_ms_of
from usagebook.store.rows import NewEntry
from usagebook.store.tables.entries import usage_entries
from usagebook.store.tables.rollups import rollup_day_currency, rollup_day_key, rollup_day_sku
from usagebook.store.write import write_batch


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield Settings.from_env({}, database_url=f"sqlite:///{tmp_path}/old.db",
                                secret_key=TEST_SECRET).database_url
        return
    url, drop = create_postgres_database()
    yield Settings.from_env({}, database_url=url, secret_key=TEST_SECRET).database_url
    drop()


async def _insert_raw(database: Database, entries: list[NewEntry]) -> None:
    # Straight into the table, as entries stored before the rollups existed were.
    async with database.write() as conn:
        await conn.execute(usage_entries.insert(), [
            {name: getattr(e, name) for name in NewEntry.__slots__ if name != "tags"}
            for e in entries])


async def _read(database: Database) -> dict[str, dict[tuple[object, ...], tuple[Decimal, ...]]]:
    found = {}
    async with database.read() as conn:
        for table in (rollup_day_currency, rollup_day_sku, rollup_day_key):
            rows = await conn.execute(select(table).where(table.c.account_id == "acct_old"))
            found[table.name] = {tuple(row[1:-2]): (row[-2], row[-1]) for row in rows}
    return found


def _expected(entries: list[NewEntry]) -> dict[str, dict[tuple[object, ...], tuple[Decimal, ...]]]:
    sums: dict[str, dict[tuple[object, ...], list[Decimal]]] = defaultdict(dict)
    for e in entries:
        base = (day_ms_of(e.ts_ms), e.currency)
        for table, key in (("rollup_day_currency", base), ("rollup_day_sku", (*base, e.sku)),
                           ("rollup_day_key", (*base, e.api_key_id or NO_KEY))):
            total = sums[table].setdefault(key, [Decimal(0), Decimal(0)])
            total[0] += e.amount
            total[1] += e.units
    return {table: {k: (v[0], v[1]) for k, v in rows.items()} for table, rows in sums.items()}


def test_upgrade_backfills_rollups_from_stored_entries(scratch_url: str) -> None:
    upgrade(scratch_url, "0003")
    entries = random_entries("acct_old", 300, seed=5, span_ms=20 * 86_400_000,
                             key_ids=(None, "key_a", "key_b"))

    async def before() -> None:
        database = create_database(Settings.from_env({}, database_url=scratch_url,
                                                     secret_key=TEST_SECRET))
        await _insert_raw(database, entries)
        await database.dispose()

    asyncio.run(before())
    upgrade(scratch_url)

    async def after() -> dict[str, dict[tuple[object, ...], tuple[Decimal, ...]]]:
        database = create_database(Settings.from_env({}, database_url=scratch_url,
                                                     secret_key=TEST_SECRET))
        try:
            return await _read(database)
        finally:
            await database.dispose()

    assert asyncio.run(after()) == _expected(entries)


def test_sqlite_refuses_a_rollup_sum_past_64_bits(tmp_path: Path) -> None:
    """A sum SQLite cannot hold exactly fails the batch instead of silently becoming a float."""
    url = Settings.from_env({}, database_url=f"sqlite:///{tmp_path}/big.db",
                            secret_key=TEST_SECRET).database_url
    upgrade(url)
    big = random_entries("acct_big", 1, seed=1)[0]
    huge = [NewEntry(**{**{n: getattr(big, n) for n in NewEntry.__slots__},
                        "amount": Decimal("-6000000000"), "request_id": f"r{i}"})
            for i in range(2)]

    async def store(database: Database, batch: list[NewEntry]) -> None:
        async with database.write() as conn:
            await write_batch(conn, batch)

    async def run() -> tuple[Decimal, Decimal]:
        database = create_database(Settings.from_env({}, database_url=url, secret_key=TEST_SECRET))
        try:
            await store(database, huge[:1])
            with pytest.raises(IntegrityError):
                await store(database, huge[1:])
            async with database.read() as conn:
                entries = await conn.execute(select(func.count()).select_from(usage_entries))
                total = await conn.execute(select(rollup_day_currency.c.amount))
                return Decimal(entries.scalar_one()), total.scalar_one()
        finally:
            await database.dispose()

    assert asyncio.run(run()) == (1, Decimal("-6000000000"))


_GRAIN_ROLLUPS = ("rollup_six_hour", "rollup_hour", "rollup_half_hour", "rollup_half_past_hour",
                  "rollup_half_past_six_hour", "rollup_quarter")


def test_upgrade_backfills_hour_and_quarter_rollups(scratch_url: str) -> None:
    """Migration 0008 fills the hour and quarter-hour rollups as the write path would have,
    floored before 1970 too, and 0014, 0015 and 0016 the six-hour, half-hour, half-past-hour
    and half-past-six-hour ones from those."""
    upgrade(scratch_url, "0007")
    entries = random_entries("acct_old", 300, seed=6, span_ms=4 * 86_400_000, end_ms=86_400_000,
                             key_ids=(None, "key_a", "key_b"))

    async def run(before: bool) -> dict[str, dict[tuple[object, ...], tuple[object, ...]]]:
        database = create_database(Settings.from_env({}, database_url=scratch_url,
                                                     secret_key=TEST_SECRET))
        found = {}
        try:
            if before:
                await _insert_raw(database, entries)
                return {}
            async with database.read() as conn:
                for name, (table, keys, figures) in PROJECTIONS.items():
                    if name.startswith(_GRAIN_ROLLUPS) and "tag" not in name:
                        rows = await conn.execute(select(*(table.c[c] for c in keys + figures)))
                        found[name] = {tuple(r[:len(keys)]): tuple(r[len(keys):]) for r in rows}
            return found
        finally:
            await database.dispose()

    asyncio.run(run(True))
    upgrade(scratch_url)
    expected = grain_rollups([("acct_old", e.api_key_id, e.ts_ms, e.sku, e.units, e.amount,
                                e.currency) for e in entries])
    assert asyncio.run(run(False)) == expected

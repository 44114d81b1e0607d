"""Migration 0003 fills the count buckets from the entries stored before it, on both backends."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select

from tests.support.factories import random_entries
from tests.support.harness import make_settings
from usagebook.store.counts import day_of, hour_of
from usagebook.store.engine import create_database
from usagebook.store.migrate import upgrade
from usagebook.store.tables.entries import usage_count_buckets, usage_count_days, usage_entries

EDGE_STAMPS = (-3_600_001, -1, 0, 3_599_999, 3_600_000)


def test_backfill_counts_every_stored_entry(fresh_url: str) -> None:
    settings = make_settings(fresh_url)
    upgrade(settings.database_url, "0002")
    entries = random_entries("acct_a", 300, seed=31) + random_entries("acct_b", 40, seed=32)
    rows = [{name: getattr(e, name) for name in e.__slots__ if name != "tags"} for e in entries]
    for index, stamp in enumerate(EDGE_STAMPS):  # floored hours, also before 1970
        rows[index]["ts_ms"] = stamp

    async def store_raw() -> None:  # as entries stored before revision 0003 existed
        db = create_database(settings)
        async with db.write() as conn:
            await conn.execute(usage_entries.insert(), rows)
        await db.dispose()

    async def buckets() -> tuple[Counter[tuple[str, str, int]], Counter[tuple[str, str, int]]]:
        db = create_database(settings)
        async with db.read() as conn:
            hours = await conn.execute(select(usage_count_buckets))
            by_hour = Counter({(r.account_id, r.currency, r.hour_ms): r.entries for r in hours})
            days = await conn.execute(select(usage_count_days))
            by_day = Counter({(r.account_id, r.currency, r.day_ms): r.entries for r in days})
        await db.dispose()
        return by_hour, by_day

    asyncio.run(store_raw())
    upgrade(settings.database_url)
    by_hour = Counter((r["account_id"], r["currency"], hour_of(r["ts_ms"])) for r in rows)
    by_day = Counter((r["account_id"], r["currency"], day_of(r["ts_ms"])) for r in rows)
    assert asyncio.run(buckets()) == (by_hour, by_day)
    assert (hour_of(-1), day_of(-1)) == (-3_600_000, -86_400_000)

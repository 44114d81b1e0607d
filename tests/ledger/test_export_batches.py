"""How the export cuts its work into batches: sized by the count buckets on PostgreSQL, never
larger than the bound, and never the cause of a missing or repeated entry, even when the
buckets are wrong; and the connections that read them in parallel share one snapshot."""

from __future__ import annotations

import io
from contextlib import AbstractAsyncContextManager, nullcontext
from itertools import pairwise

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.factories import random_entries, store_entries
from tests.support.harness import Harness, Tenant
from tests.support.usage import api_pages
from usagebook.api.export import ExportQuery, export_entries
from usagebook.store.counts import HOUR_MS, hour_of
from usagebook.store.engine import Database, create_database
from usagebook.store.entries import EntryFilter, count_entries, list_entries_page
from usagebook.store.export import joined, snapshot
from usagebook.store.export_plan import MAX_BATCH_FACTOR
from usagebook.store.tables.entries import usage_count_buckets
from usagebook.timeutil import now_ms

SIZE = 50
ENTRIES = 400 + 600 + 40 * 3


def export_with_batches(
    harness: Harness, query: ExportQuery, size: int = SIZE
) -> tuple[bytes, list[int]]:
    """The export's bytes and the number of entries in each of its batches."""
    out, totals = io.BytesIO(), [0]
    harness.call(lambda db: export_entries(db, query, out, lambda done: totals.append(
        done.entries), batch_size=size))
    return out.getvalue(), [b - a for a, b in pairwise(totals)]


def fill(harness: Harness, tenant: Tenant) -> None:
    """400 entries over 30 days, 600 in one crowded second 90 minutes ago, and 3 on each edge
    of 40 consecutive hours (the last ms of one, the first of the next), where batches meet."""
    crowded_end = now_ms() - 90 * 60_000
    entries = random_entries(tenant.account_id, 400, seed=81) + random_entries(
        tenant.account_id, 600, seed=82, span_ms=1000, end_ms=crowded_end)
    first_edge = hour_of(now_ms()) - 50 * HOUR_MS
    for hour in range(40):
        entries += random_entries(tenant.account_id, 3, seed=100 + hour, span_ms=2,
                                  end_ms=first_edge + hour * HOUR_MS)
    harness.call(lambda db: store_entries(db, entries))


def test_batches_are_bounded_and_a_crowded_hour_is_cut_by_key(
    harness: Harness, tenant: Tenant
) -> None:
    fill(harness, tenant)
    exported, sizes = export_with_batches(harness, ExportQuery(tenant.account_id))
    pages = api_pages(harness, tenant, {}, "text/csv")
    assert exported == pages[0].content + b"".join(
        p.content.split(b"\n", 1)[1] for p in pages[1:])
    assert sum(sizes) == ENTRIES and min(sizes) > 0 and max(sizes) <= MAX_BATCH_FACTOR * SIZE
    assert sizes.count(SIZE) >= 600 // SIZE  # the crowded hour: batches of exactly SIZE keys


def test_wrong_buckets_change_batch_sizes_never_the_output(
    harness: Harness, tenant: Tenant
) -> None:
    fill(harness, tenant)
    query = ExportQuery(tenant.account_id)
    whole, _ = export_with_batches(harness, query)
    buckets = usage_count_buckets.c

    async def spoil(db: Database) -> None:
        async with db.write() as conn:  # undercount every hour, and lose every other one
            mine = buckets.account_id == tenant.account_id
            await conn.execute(update(usage_count_buckets).where(mine).values(entries=1))
            await conn.execute(delete(usage_count_buckets).where(
                mine, buckets.hour_ms % (2 * HOUR_MS) == 0))

    harness.call(spoil)
    assert export_with_batches(harness, query)[0] == whole


def test_resuming_inside_a_batch_continues_with_the_next_entry(
    harness: Harness, tenant: Tenant
) -> None:
    fill(harness, tenant)
    whole, _ = export_with_batches(harness, ExportQuery(tenant.account_id))
    for skipped in (1, 137, 431, ENTRIES - 1):
        key = harness.call(lambda db, n=skipped: _entry_at(db, tenant.account_id, n))
        rest, _ = export_with_batches(harness, ExportQuery(tenant.account_id, after=key))
        assert whole.split(b"\n", skipped + 1)[-1] == rest, skipped


async def _entry_at(db: Database, account_id: str, offset: int) -> str:
    """The cursor of the entry at `offset` in ledger order."""
    async with db.read() as conn:
        [row] = await list_entries_page(conn, EntryFilter(account_id), descending=False,
                                        limit=1, offset=offset - 1)
    return f"{row.ts_ms}-{row.id}"


def test_every_connection_of_an_export_reads_the_state_of_its_first_read(
    harness: Harness, tenant: Tenant
) -> None:
    fill(harness, tenant)
    where = EntryFilter(tenant.account_id)

    async def seen(db: Database) -> tuple[int, list[int], int]:
        async with snapshot(db) as conn:
            before = await count_entries(conn, where)
            writer = create_database(harness.settings)  # commits on its own connection
            try:
                await store_entries(writer, random_entries(tenant.account_id, 7, seed=90))
            finally:
                await writer.dispose()
            readers: AbstractAsyncContextManager[list[AsyncConnection]] = (
                nullcontext([conn]) if db.is_sqlite else joined(db, conn, 2))
            async with readers as conns:
                counts = [await count_entries(c, where) for c in conns]
        async with db.read() as conn:
            return before, counts, await count_entries(conn, where)

    before, counts, after = harness.call(seen)
    assert after == before + 7
    assert counts == [before] * (1 if harness.backend == "sqlite" else 3)

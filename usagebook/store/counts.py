"""Count buckets: how many entries each account has per (currency, UTC hour) and per
(currency, UTC day).

A projection like balances: `add_counts` runs in the write path's transaction (one call in
`store.write_sqlite`), so the buckets always equal a COUNT over the stored entries; migration 0003
fills them from the entries stored before it. `store.paging` reads them for exact totals and
deep pages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.rows import StoredEntry
from usagebook.store.tables.entries import usage_count_buckets, usage_count_days

HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def hour_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % HOUR_MS  # Python's % floors, as the migration's SQL does


def day_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % DAY_MS


async def add_counts(conn: AsyncConnection, stored: Sequence[StoredEntry]) -> None:
    """Count freshly stored entries into their hour and day buckets, touching rows in sorted
    key order (hours, then days) so that concurrent batches lock them in the same order."""
    keys = [(s.entry.account_id, s.entry.currency, s.entry.ts_ms) for s in stored]
    await _add(conn, usage_count_buckets, "hour_ms", Counter(
        (account, currency, hour_of(ts)) for account, currency, ts in keys))
    await _add(conn, usage_count_days, "day_ms", Counter(
        (account, currency, day_of(ts)) for account, currency, ts in keys))


async def _add(
    conn: AsyncConnection, table: Table, time_column: str, counted: Counter[tuple[str, str, int]]
) -> None:
    if not counted:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.account_id, table.c[time_column], table.c.currency],
        set_={"entries": table.c.entries + statement.excluded.entries},
    )
    await conn.execute(statement, [
        {"account_id": account, "currency": currency, time_column: moment, "entries": n}
        for (account, currency, moment), n in sorted(counted.items())
    ])

"""Count buckets: how many entries each account has per (currency, UTC hour).

A projection like balances: `add_counts` runs in the write path's transaction (one call in
`store.projections`), so the buckets always equal a COUNT over the stored entries; migration 0003
fills them from the entries stored before it. `store.paging` reads them for exact totals and
deep pages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.tables import usage_count_buckets as ucb

if TYPE_CHECKING:
    from usagebook.store.entries import StoredEntry

HOUR_MS = 3_600_000


def hour_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % HOUR_MS  # Python's % floors, as the migration's SQL does


async def add_counts(conn: AsyncConnection, stored: Sequence[StoredEntry]) -> None:
    """Count freshly stored entries into their buckets, touching rows in sorted key order so
    that concurrent batches lock them in the same order."""
    counted = Counter((s.entry.account_id, s.entry.currency, hour_of(s.entry.ts_ms))
                      for s in stored)
    if not counted:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(ucb)
    statement = statement.on_conflict_do_update(
        index_elements=[ucb.c.account_id, ucb.c.currency, ucb.c.hour_ms],
        set_={"entries": ucb.c.entries + statement.excluded.entries},
    )
    await conn.execute(statement, [
        {"account_id": account, "currency": currency, "hour_ms": hour, "entries": n}
        for (account, currency, hour), n in sorted(counted.items())
    ])

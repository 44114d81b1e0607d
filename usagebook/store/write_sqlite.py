"""SQLite's implementation of `store.write.write_batch`: the insert, then every projection summed
in Python and upserted, in the caller's transaction.

Balances, count buckets, analytics rollups and alert crossings are projections over the ledger's
entries; they change only in the write path, so recording, import, the demo and the benchmarks
cannot disagree. PostgreSQL computes the same sums in data-modifying CTEs of its insert statement
(`store.write_postgresql`), which SQLite does not have. The projections run in a fixed order,
each updating its rows in a fixed key order, so that concurrent batches lock rows in the same
order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.alerts import project_balance_alerts
from usagebook.store.balances import project_balances
from usagebook.store.counts import add_counts
from usagebook.store.limit_alerts import project_limit_alerts
from usagebook.store.rollups import update_rollups
from usagebook.store.rows import NewEntry, StoredEntry, inserted_ids
from usagebook.store.tables.entries import usage_entries as ue

_FIELDS = NewEntry.__slots__
_INSERT = (
    sqlite.insert(ue)
    .on_conflict_do_nothing(index_elements=["account_id", "request_id", "sku"])
    .returning(ue.c.id, ue.c.account_id, ue.c.request_id, ue.c.sku)
)


async def write_batch(
    conn: AsyncConnection, entries: Sequence[NewEntry], *, idempotent: bool
) -> list[int | None]:
    """Insert the entries (skipping any already stored) and project the ones inserted; returns
    each entry's new id (None: already stored). Without `idempotent` the caller expects none
    stored: when one is, nothing is projected, since the caller's transaction is lost anyway."""
    params = [{name: getattr(entry, name) for name in _FIELDS} for entry in entries]
    ids = inserted_ids(entries, await conn.execute(_INSERT, params))
    if not idempotent and None in ids:
        return ids
    stored = [StoredEntry(id_, entry) for id_, entry in zip(ids, entries, strict=True) if id_]
    await apply_projections(conn, stored)
    return ids


async def apply_projections(conn: AsyncConnection, stored: Sequence[StoredEntry]) -> None:
    if not stored:
        return
    # Each projection adds one call here, in this order: balances, counts, rollups, alerts
    # (which read the balances just moved).
    await project_balances(conn, stored)
    await add_counts(conn, stored)
    await update_rollups(conn, stored)
    await project_balance_alerts(conn, stored)
    await project_limit_alerts(conn, stored)

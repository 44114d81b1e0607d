"""Projections kept current with every stored entry, in the same transaction (SQLite).

Balances, count buckets and analytics rollups are projections over the ledger's entries; they
change only in the write path (`store.entries.insert_entries`), so recording, import, the demo
and the benchmarks cannot disagree. On SQLite they are summed here in Python and upserted; on
PostgreSQL the same sums are data-modifying CTEs of the insert statement itself
(`store.pg_write`). They run in a fixed order, each updating its rows in a fixed key order, so
that concurrent batches lock rows in the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.alerts import project_balance_alerts
from usagebook.store.balances import project_balances
from usagebook.store.counts import add_counts
from usagebook.store.limit_alerts import project_limit_alerts
from usagebook.store.rollups import update_rollups
from usagebook.store.rows import StoredEntry


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

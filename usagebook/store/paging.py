"""Exact totals and deep pages whose cost does not grow with the account or the page number.

A filter's exact total is the sum of its account's count buckets (`store.counts`) lying wholly
inside the filter's time range, plus the entries of the two partial edge hours, counted from the
index: at most two hours of one account's entries, whatever the account's size. A deep page
skips whole buckets the same way and only OFFSETs inside one bucket (`narrow_to_page`).

Ledger order is (ts_ms, id); a bucket holds whole timestamps, so cutting the order at an hour
boundary never separates entries that tie on a timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.counts import HOUR_MS, hour_of
from usagebook.store.entries import EntryFilter, count_entries
from usagebook.store.tables import usage_count_buckets as ucb


@dataclass(frozen=True, slots=True)
class _Split:
    """A filter's time range cut into a low partial hour, whole hours, and a high partial hour.
    Edges are None when the range starts or ends on an hour boundary (or is unbounded)."""

    low_edge: EntryFilter | None
    full_from: int | None  # first whole hour (inclusive); None: unbounded below
    full_until: int | None  # end of the whole hours (exclusive); None: unbounded above
    high_edge: EntryFilter | None


def _split(where: EntryFilter) -> _Split | None:
    """None when the range holds no whole hour (it then spans under two hours: count it)."""
    full_from = -(-where.start_ms // HOUR_MS) * HOUR_MS if where.start_ms is not None else None
    full_until = hour_of(where.end_ms + 1) if where.end_ms is not None else None
    if full_from is not None and full_until is not None and full_from >= full_until:
        return None
    low = (replace(where, end_ms=full_from - 1)
           if full_from is not None and where.start_ms != full_from else None)
    high = (replace(where, start_ms=full_until)
            if full_until is not None and where.end_ms != full_until - 1 else None)
    return _Split(low, full_from, full_until, high)


def _in_whole_hours(query: Select[Any], where: EntryFilter, split: _Split) -> Select[Any]:
    query = query.where(ucb.c.account_id == where.account_id)
    if where.currencies is not None:
        query = query.where(ucb.c.currency.in_(where.currencies))
    if split.full_from is not None:
        query = query.where(ucb.c.hour_ms >= split.full_from)
    if split.full_until is not None:
        query = query.where(ucb.c.hour_ms < split.full_until)
    return query


def _buckets(where: EntryFilter, split: _Split) -> Select[Any]:
    """Whole-hour buckets of the filter, one row per hour: (hour_ms, n)."""
    query = select(ucb.c.hour_ms, func.sum(ucb.c.entries).label("n"))
    return _in_whole_hours(query, where, split).group_by(ucb.c.hour_ms)


async def _edge_count(conn: AsyncConnection, edge: EntryFilter | None) -> int:
    return await count_entries(conn, edge) if edge is not None else 0


async def count_matching(conn: AsyncConnection, where: EntryFilter) -> int:
    """The exact number of entries matching `where`, from buckets plus two partial hours."""
    split = _split(where)
    if split is None:
        return await count_entries(conn, where)
    summed = await conn.execute(
        _in_whole_hours(select(func.coalesce(func.sum(ucb.c.entries), 0)), where, split))
    edges = await _edge_count(conn, split.low_edge) + await _edge_count(conn, split.high_edge)
    return int(summed.scalar_one()) + edges


async def narrow_to_page(
    conn: AsyncConnection, where: EntryFilter, *, descending: bool, offset: int
) -> tuple[EntryFilter, int]:
    """A filter and a short offset that select the same page as `where` with `offset`.

    Walking in page order, whole buckets before the page are dropped from the filter's time
    range, so what remains to skip lies within one bucket (or one partial edge hour)."""
    split = _split(where)
    if split is None or offset == 0:
        return where, offset
    first_edge = split.high_edge if descending else split.low_edge
    budget = offset - await _edge_count(conn, first_edge)
    if budget < 0:
        return where, offset  # the page starts in the first partial hour
    whole = _buckets(where, split).subquery()
    order = whole.c.hour_ms.desc() if descending else whole.c.hour_ms.asc()
    running = select(
        whole.c.hour_ms, func.sum(whole.c.n).over(order_by=order).label("before")
    ).subquery()
    # The deepest bucket that, with every bucket before it, still fits in the offset.
    deepest = (select(running.c.hour_ms, running.c.before)
               .where(running.c.before <= budget)
               .order_by(running.c.hour_ms.asc() if descending else running.c.hour_ms.desc())
               .limit(1))
    found = (await conn.execute(deepest)).first()
    if found is None:  # the page starts in the first whole bucket: skip only the edge
        cut, skipped = (split.full_until if descending else split.full_from), 0
    else:
        cut, skipped = (found.hour_ms if descending else found.hour_ms + HOUR_MS), found.before
    if cut is None:
        return where, budget
    narrowed = replace(where, end_ms=cut - 1) if descending else replace(where, start_ms=cut)
    return narrowed, budget - int(skipped)


async def use_one_snapshot(conn: AsyncConnection) -> None:
    """Make the connection's next transaction read one snapshot, so a total and its page agree
    while entries are being recorded. Call before the first statement. (SQLite's read
    transaction in WAL mode already is one snapshot.)"""
    if conn.dialect.name == "postgresql":
        await conn.execution_options(isolation_level="REPEATABLE READ")

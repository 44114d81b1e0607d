"""Exact totals and deep pages whose cost does not grow with the account or the page number.

A filter's time range is cut into whole UTC days, whole hours outside them, and at most two
partial hours at its edges. Its exact total is the sum of the account's day buckets and hour
buckets (`store.counts`) for the whole parts, plus the entries of the two partial hours counted
from the index: about one row per day, a few dozen hour rows, and at most two hours of entries,
whatever the account's size. A deep page walks the same pieces in page order, skips whole ones
(a day it lands in is opened into its hours), and OFFSETs only inside one hour.

Ledger order is (ts_ms, id); a piece holds whole timestamps, so cutting the order at a piece's
boundary never separates entries that tie on a timestamp.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, replace
from functools import reduce
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.counts import DAY_MS, HOUR_MS
from usagebook.store.entries import EntryFilter, count_entries, count_query
from usagebook.store.tables import usage_count_buckets as hours_table
from usagebook.store.tables import usage_count_days as days_table

Span = tuple[int | None, int | None]  # [start, end) in epoch ms; None: unbounded


@dataclass(frozen=True, slots=True)
class _Cut:
    """A filter's range in pieces; each is None when empty."""

    low_edge: Span | None
    hours: tuple[Span, ...]  # whole hours outside whole days (at most two runs)
    days: Span | None
    high_edge: Span | None


@dataclass(frozen=True, slots=True)
class _Piece:
    start: int
    end: int  # exclusive
    count: int | None  # None: an edge, counted only if the walk must step over it
    is_day: bool = False


def _ceil(ms: int, unit: int) -> int:
    return -(-ms // unit) * unit


def _floor(ms: int, unit: int) -> int:
    return ms - ms % unit


def _cut(where: EntryFilter) -> _Cut | None:
    """None when the range holds no whole hour (it spans under two hours: count it)."""
    lo = where.start_ms
    hi = where.end_ms + 1 if where.end_ms is not None else None  # exclusive
    h_lo = _ceil(lo, HOUR_MS) if lo is not None else None
    h_hi = _floor(hi, HOUR_MS) if hi is not None else None
    if h_lo is not None and h_hi is not None and h_lo >= h_hi:
        return None
    low_edge = (lo, h_lo) if lo is not None and lo != h_lo else None
    high_edge = (h_hi, hi) if hi is not None and hi != h_hi else None
    d_lo = _ceil(lo, DAY_MS) if lo is not None else None
    d_hi = _floor(hi, DAY_MS) if hi is not None else None
    if d_lo is not None and d_hi is not None and d_lo >= d_hi:
        return _Cut(low_edge, ((h_lo, h_hi),), None, high_edge)
    hours = tuple(span for span in ((h_lo, d_lo), (d_hi, h_hi))
                  if span[0] is not None and span[1] is not None and span[0] < span[1])
    return _Cut(low_edge, hours, (d_lo, d_hi), high_edge)


def _within(table: Table, column: str, where: EntryFilter, spans: tuple[Span, ...]) -> Select[Any]:
    query = select(table.c[column], func.sum(table.c.entries).label("n")).where(
        table.c.account_id == where.account_id)
    if where.currencies is not None:
        query = query.where(table.c.currency.in_(where.currencies))
    conditions = [_in_span(table.c[column], span) for span in spans]
    return query.where(or_(*conditions)).group_by(table.c[column])


def _in_span(column: ColumnElement[int], span: Span) -> ColumnElement[bool]:
    parts = [column >= span[0]] if span[0] is not None else []
    parts += [column < span[1]] if span[1] is not None else []
    return and_(true(), *parts)


def _edge(where: EntryFilter, span: Span) -> EntryFilter:
    assert span[0] is not None and span[1] is not None
    return replace(where, start_ms=span[0], end_ms=span[1] - 1)


async def count_matching(conn: AsyncConnection, where: EntryFilter) -> int:
    """The exact number of entries matching `where`, in one statement over the buckets and
    the two partial edge hours."""
    cut = _cut(where)
    if cut is None:
        return await count_entries(conn, where)
    parts: list[Any] = []
    if cut.days is not None:
        days = _within(days_table, "day_ms", where, (cut.days,)).subquery()
        parts.append(select(func.sum(days.c.n)).scalar_subquery())
    if cut.hours:
        hours = _within(hours_table, "hour_ms", where, cut.hours).subquery()
        parts.append(select(func.sum(hours.c.n)).scalar_subquery())
    for edge in (cut.low_edge, cut.high_edge):
        if edge is not None:
            parts.append(count_query(_edge(where, edge)).scalar_subquery())
    total = reduce(operator.add, (func.coalesce(part, 0) for part in parts))
    return int((await conn.execute(select(total))).scalar_one())


async def narrow_to_page(
    conn: AsyncConnection, where: EntryFilter, *, descending: bool, offset: int
) -> tuple[EntryFilter, int]:
    """A filter and a short offset that select the same page as `where` with `offset`:
    whole days and hours before the page are cut off the filter's range in page order, so what
    remains to skip lies within one hour."""
    cut = _cut(where)
    if cut is None or offset == 0:
        return where, offset
    pieces = sorted(await _pieces(conn, where, cut), key=lambda p: p.start, reverse=descending)
    remaining, index = offset, 0
    while index < len(pieces):
        piece = pieces[index]
        count = piece.count
        if count is None and index + 1 < len(pieces):
            count = await count_entries(conn, _edge(where, (piece.start, piece.end)))
        if count is None or remaining < count:
            if not piece.is_day:
                return _before(where, piece, descending), remaining
            pieces[index : index + 1] = await _hours_of(conn, where, piece, descending)
            continue
        remaining -= count
        index += 1
    # Past the last entry (the caller checks against the total): an empty, cheap range.
    if not pieces:
        return where, 0
    last = pieces[-1]
    return (replace(where, end_ms=last.start - 1) if descending
            else replace(where, start_ms=last.end)), 0


async def _pieces(conn: AsyncConnection, where: EntryFilter, cut: _Cut) -> list[_Piece]:
    pieces = [_Piece(span[0], span[1], None) for span in (cut.low_edge, cut.high_edge)
              if span is not None and span[0] is not None and span[1] is not None]
    if cut.hours:
        rows = await conn.execute(_within(hours_table, "hour_ms", where, cut.hours))
        pieces += [_Piece(row.hour_ms, row.hour_ms + HOUR_MS, int(row.n)) for row in rows]
    if cut.days is not None:
        rows = await conn.execute(_within(days_table, "day_ms", where, (cut.days,)))
        pieces += [_Piece(row.day_ms, row.day_ms + DAY_MS, int(row.n), is_day=True)
                   for row in rows]
    return pieces


async def _hours_of(
    conn: AsyncConnection, where: EntryFilter, day: _Piece, descending: bool
) -> list[_Piece]:
    rows = await conn.execute(_within(hours_table, "hour_ms", where, ((day.start, day.end),)))
    hours = [_Piece(row.hour_ms, row.hour_ms + HOUR_MS, int(row.n)) for row in rows]
    return sorted(hours, key=lambda p: p.start, reverse=descending)


def _before(where: EntryFilter, piece: _Piece, descending: bool) -> EntryFilter:
    """`where` without the pieces that come before `piece` in page order."""
    return replace(where, end_ms=piece.end - 1) if descending else replace(where,
                                                                           start_ms=piece.start)


async def use_one_snapshot(conn: AsyncConnection) -> None:
    """Make the connection's next transaction read one snapshot, so a total and its page agree
    while entries are being recorded. Call before the first statement. (SQLite's read
    transaction in WAL mode already is one snapshot.)"""
    if conn.dialect.name == "postgresql":
        await conn.execution_options(isolation_level="REPEATABLE READ")

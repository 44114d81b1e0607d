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

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    Table,
    and_,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.counts import DAY_MS, HOUR_MS
from usagebook.store.entries import EntryFilter, count_entries, count_query
from usagebook.store.tables.entries import usage_count_buckets as hours_table
from usagebook.store.tables.entries import usage_count_days as days_table

Span = tuple[int | None, int | None]  # [start, end) in epoch ms; None: unbounded


@dataclass(frozen=True, slots=True)
class Cut:
    """A filter's range in pieces; each is None when empty."""

    low_edge: Span | None
    hours: tuple[Span, ...]  # whole hours outside whole days (at most two runs)
    days: Span | None
    high_edge: Span | None


@dataclass(frozen=True, slots=True)
class _Piece:
    start: int
    end: int  # exclusive
    count: int
    is_day: bool = False


_EDGE, _HOUR, _DAY = 0, 1, 2


def _ceil(ms: int, unit: int) -> int:
    return -(-ms // unit) * unit


def _floor(ms: int, unit: int) -> int:
    return ms - ms % unit


def cut_range(where: EntryFilter) -> Cut | None:
    """None when the range holds no whole hour (it spans under two hours: count it), or when
    the filter is on more than time and currency (the buckets cannot count it)."""
    if not where.by_time_alone:
        return None
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
        return Cut(low_edge, ((h_lo, h_hi),), None, high_edge)
    hours = tuple(span for span in ((h_lo, d_lo), (d_hi, h_hi))
                  if span[0] is not None and span[1] is not None and span[0] < span[1])
    return Cut(low_edge, hours, (d_lo, d_hi), high_edge)


def _within(table: Table, column: str, where: EntryFilter, spans: tuple[Span, ...]) -> Select[Any]:
    query = select(table.c[column].label("start"), func.sum(table.c.entries).label("n")).where(
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
    cut = cut_range(where)
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


@dataclass(frozen=True, slots=True)
class PageStart:
    """Where a page starts: the filter's exact total, and a filter with a short offset that
    select the same rows as the original filter with the original offset."""

    total: int
    where: EntryFilter
    offset: int


async def locate_page(
    conn: AsyncConnection, where: EntryFilter, *, descending: bool, offset: int
) -> PageStart:
    """Whole days and hours before the page are cut off the filter's range in page order, so
    what remains to skip lies within one hour. Two statements (the pieces, then the hours of
    the day the page starts in) whatever the depth, and the total comes with the pieces."""
    cut = cut_range(where)
    if cut is None:
        return PageStart(await count_entries(conn, where), where, offset)
    pieces = sorted(await _pieces(conn, where, cut), key=lambda p: p.start, reverse=descending)
    total = sum(piece.count for piece in pieces)
    remaining, index = offset, 0
    while index < len(pieces):
        piece = pieces[index]
        if remaining < piece.count:
            if not piece.is_day:
                return PageStart(total, _before(where, piece, descending), remaining)
            pieces[index : index + 1] = await _hours_of(conn, where, piece, descending)
            continue
        remaining -= piece.count
        index += 1
    # Past the last entry: an empty, cheap range.
    past = (replace(where, end_ms=pieces[-1].start - 1) if descending
            else replace(where, start_ms=pieces[-1].end)) if pieces else where
    return PageStart(total, past, 0)


async def _pieces(conn: AsyncConnection, where: EntryFilter, cut: Cut) -> list[_Piece]:
    """The filter's edges (counted from the index), whole hours and whole days, with their
    counts, in one statement."""
    groups: list[tuple[int, Table, str, tuple[Span, ...]]] = []
    if cut.hours:
        groups.append((_HOUR, hours_table, "hour_ms", cut.hours))
    if cut.days is not None:
        groups.append((_DAY, days_table, "day_ms", (cut.days,)))
    parts: list[Select[Any]] = []
    for kind, table, column, spans in groups:
        sums = _within(table, column, where, spans).subquery()
        parts.append(select(literal_column(str(kind)).label("kind"), sums.c.start, sums.c.n))
    for span in (cut.low_edge, cut.high_edge):
        if span is not None:
            parts.append(select(literal_column(str(_EDGE)).label("kind"),
                                cast(literal(span[0]), BigInteger).label("start"),
                                count_query(_edge(where, span)).scalar_subquery().label("n")))
    rows = await conn.execute(union_all(*parts))
    sizes = {_EDGE: 0, _HOUR: HOUR_MS, _DAY: DAY_MS}
    return [_Piece(row.start, row.start + sizes[row.kind], int(row.n or 0), row.kind == _DAY)
            if row.kind != _EDGE else _edge_piece(cut, row.start, int(row.n))
            for row in rows]


def _edge_piece(cut: Cut, start: int, count: int) -> _Piece:
    span = cut.low_edge if cut.low_edge is not None and cut.low_edge[0] == start else cut.high_edge
    assert span is not None and span[1] is not None
    return _Piece(start, span[1], count)


async def _hours_of(
    conn: AsyncConnection, where: EntryFilter, day: _Piece, descending: bool
) -> list[_Piece]:
    rows = await conn.execute(_within(hours_table, "hour_ms", where, ((day.start, day.end),)))
    hours = [_Piece(row.start, row.start + HOUR_MS, int(row.n)) for row in rows]
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

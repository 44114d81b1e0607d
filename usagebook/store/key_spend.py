"""Spend per API key, summed exactly from the day x currency x key rollup (`rollup_day_key`).

A window is a range of UTC days `[start_ms, end_ms)` (either end open); the rollup is kept in the
transaction that stores the entries, so these sums are exactly the entries' sums, never a
counter that can drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, select, true, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.tables.rollups import rollup_day_key
from usagebook.store.types import Money


@dataclass(frozen=True)
class Window:
    """UTC days from `start_ms` (inclusive) to `end_ms` (exclusive); None = open."""

    start_ms: int | None
    end_ms: int | None


# (key id, window name, currency) -> the sum of the entries' amounts (negative for charges)
AmountSums = dict[tuple[str, str, str], Decimal]


async def amounts_in_windows(
    conn: AsyncConnection, account_id: str, key_ids: Sequence[str],
    windows: Mapping[str, Window],
) -> AmountSums:
    """Each key's summed amounts per currency in each named window, in one query. Keys and
    currencies without entries in a window are absent."""
    if not key_ids or not windows:
        return {}
    table = rollup_day_key.c
    names = list(windows)
    sums = [func.sum(case((_within(windows[name]), table.amount), else_=None))
            for name in names]
    query = (
        select(table.api_key_id, table.currency,
               *(type_coerce(total, Money).label(f"w{i}") for i, total in enumerate(sums)))
        .where(table.account_id == account_id, table.api_key_id.in_(list(key_ids)),
               _within(_span(windows.values())))
        .group_by(table.api_key_id, table.currency)
    )
    found: AmountSums = {}
    for row in await conn.execute(query):
        for i, name in enumerate(names):
            if row[2 + i] is not None:
                found[(row[0], name, row[1])] = row[2 + i]
    return found


def _within(window: Window) -> Any:
    day = rollup_day_key.c.day_ms
    bounds = []
    if window.start_ms is not None:
        bounds.append(day >= window.start_ms)
    if window.end_ms is not None:
        bounds.append(day < window.end_ms)
    return and_(*bounds) if bounds else true()


def _span(windows: Any) -> Window:
    """The smallest window that holds all of them: the rows the query has to read."""
    listed = list(windows)
    starts = [w.start_ms for w in listed]
    ends = [w.end_ms for w in listed]
    return Window(None if None in starts else min(starts), None if None in ends else max(ends))

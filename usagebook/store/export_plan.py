"""Where the CSV export's batches begin and end, chosen from the count buckets.

The account's hour buckets (`usage_count_buckets`, kept in the write path's transaction, so
exact in any snapshot) say how many entries each UTC hour holds. Runs of whole hours holding
about `size` entries become key ranges that a batch can COPY at once, with no need to find its
last key first: each entry's index entry is then read once, not twice.

Correctness never rests on the buckets: the ranges always cover the whole key space after the
starting position, in order and without overlap, so every entry lands in exactly one range. The
counts only decide how much one batch holds; a range whose count is unknown (before the first
bucket, after the last) or above `MAX_BATCH_FACTOR * size` is read in batches of `size` keys
found by probing the index, so a batch's memory stays bounded either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.counts import HOUR_MS, hour_of
from usagebook.store.entries import EntryFilter
from usagebook.store.tables.entries import usage_count_buckets as hours

# Above every id: the key (t, LAST_ID) is the last possible key at timestamp t, so "after
# (t - 1, LAST_ID)" means "at t or later" in ledger order.
LAST_ID = 2**63 - 1
MAX_BATCH_FACTOR = 2


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in ledger order: the key of the last entry already read."""

    ts_ms: int
    id: int


@dataclass(frozen=True, slots=True)
class KeyRange:
    """The keys after `after` (exclusive) up to and including `through`; None: unbounded."""

    after: Position | None
    through: Position | None
    entries: int | None = None  # from the buckets (the filter's edges may hold fewer)

    @property
    def copy_at_once(self) -> bool:
        return self.entries is not None


def _before(ts_ms: int) -> Position:
    return Position(ts_ms - 1, LAST_ID)


async def plan_ranges(
    conn: AsyncConnection, where: EntryFilter, after: Position | None, size: int
) -> list[KeyRange]:
    """Consecutive key ranges covering every entry after `after` that `where` may match.
    One row per batch is read (a few dozen for millions of entries)."""
    windows = await _windows(conn, where, after, size)
    ranges: list[KeyRange] = []
    lower = after
    if windows and (lower is None or lower < _before(windows[0][0])):
        ranges.append(KeyRange(lower, _before(windows[0][0]), None))  # no bucket before it
        lower = _before(windows[0][0])
    ends = [start for start, _, _ in windows[1:]] + [end for _, end, _ in windows[-1:]]
    for (_, _, entries), end in zip(windows, ends, strict=True):
        # A run reaches to the next run's first hour: hours between runs hold no entries.
        known = entries if entries <= MAX_BATCH_FACTOR * size else None
        ranges.append(KeyRange(lower, _before(end), known))
        lower = _before(end)
    ranges.append(KeyRange(lower, None, None))  # after the last bucket: none, by the buckets
    return ranges


async def _windows(
    conn: AsyncConnection, where: EntryFilter, after: Position | None, size: int
) -> list[tuple[int, int, int]]:
    """(first hour, end of the last hour, entries) of runs of hours holding about `size`
    entries: hour h joins run floor(entries before h / size)."""
    per_hour = select(hours.c.hour_ms, func.sum(hours.c.entries).label("entries")).where(
        hours.c.account_id == where.account_id)
    if where.currencies is not None:
        per_hour = per_hour.where(hours.c.currency.in_(where.currencies))
    edges = [t for t in (where.start_ms, after.ts_ms if after else None) if t is not None]
    lowest = max(edges, default=None)
    if lowest is not None:
        per_hour = per_hour.where(hours.c.hour_ms >= hour_of(lowest))
    if where.end_ms is not None:
        per_hour = per_hour.where(hours.c.hour_ms <= where.end_ms)
    hourly = per_hour.group_by(hours.c.hour_ms).subquery()
    entries = cast(hourly.c.entries, BigInteger)
    before = cast(func.sum(entries).over(order_by=hourly.c.hour_ms), BigInteger) - entries
    numbered = select(hourly.c.hour_ms, entries.label("entries"),
                      (before // size).label("run")).subquery()
    runs = (select(func.min(numbered.c.hour_ms), func.max(numbered.c.hour_ms) + HOUR_MS,
                   func.sum(numbered.c.entries))
            .group_by(numbered.c.run).order_by(numbered.c.run))
    return [(int(s), int(e), int(n)) for s, e, n in await conn.execute(runs)]

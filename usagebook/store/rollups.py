"""Analytics rollups (per UTC day, six hours, hour, half hour and quarter hour): the write side,
called once per batch from `apply_projections` (SQLite; `store.write_postgresql` does the same
in SQL).

A batch's entries are summed in Python first, so each rollup row is written once per batch, then
upserted as `x = x + excluded.x` in sorted key order: concurrent batches lock the rows they
share in the same order and cannot deadlock, and since this runs in the transaction that stores
the entries, a rollup can never count an entry twice or miss one.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.rows import StoredEntry
from usagebook.store.tables.rollups import (
    rollup_day_currency,
    rollup_day_key,
    rollup_day_sku,
    rollup_half_hour_key,
    rollup_half_hour_sku,
    rollup_half_past_hour_sku,
    rollup_half_past_six_hour_sku,
    rollup_hour_currency,
    rollup_hour_key,
    rollup_hour_sku,
    rollup_quarter_currency,
    rollup_quarter_key,
    rollup_quarter_sku,
    rollup_quarter_tag,
    rollup_six_hour_key,
    rollup_six_hour_sku,
)
from usagebook.timeutil import MS_PER_DAY

NO_KEY = ""  # the rollups' stand-in for usage without an API key
Sums = dict[tuple[Any, ...], list[Decimal]]
MS_PER_SIX_HOURS = 21_600_000
MS_PER_HOUR = 3_600_000
MS_PER_HALF_HOUR = 1_800_000
MS_PER_QUARTER = 900_000


def day_ms_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % MS_PER_DAY


def _extra_sku(_key: str, sku: str) -> tuple[str, ...]:
    return (sku,)


def _extra_key(key: str, _sku: str) -> tuple[str, ...]:
    return (key,)


def _extra_key_sku(key: str, sku: str) -> tuple[str, ...]:
    return (key, sku)


def _extra_none(_key: str, _sku: str) -> tuple[str, ...]:
    return ()


# (table, its bucket column, size and phase in ms (units start at phase + n * size), the extra
# key values from (key, SKU), their columns)
_ROLLUPS = (
    (rollup_day_currency, "day_ms", MS_PER_DAY, 0, _extra_none, ()),
    (rollup_day_sku, "day_ms", MS_PER_DAY, 0, _extra_sku, ("sku",)),
    (rollup_day_key, "day_ms", MS_PER_DAY, 0, _extra_key, ("api_key_id",)),
    (rollup_six_hour_sku, "six_hour_ms", MS_PER_SIX_HOURS, 0, _extra_sku, ("sku",)),
    (rollup_six_hour_key, "six_hour_ms", MS_PER_SIX_HOURS, 0, _extra_key, ("api_key_id",)),
    (rollup_half_past_six_hour_sku, "half_past_six_hour_ms", MS_PER_SIX_HOURS, MS_PER_HALF_HOUR,
     _extra_sku, ("sku",)),
    (rollup_hour_currency, "hour_ms", MS_PER_HOUR, 0, _extra_none, ()),
    (rollup_hour_sku, "hour_ms", MS_PER_HOUR, 0, _extra_sku, ("sku",)),
    (rollup_hour_key, "hour_ms", MS_PER_HOUR, 0, _extra_key_sku, ("api_key_id", "sku")),
    (rollup_half_past_hour_sku, "half_past_hour_ms", MS_PER_HOUR, MS_PER_HALF_HOUR, _extra_sku,
     ("sku",)),
    (rollup_half_hour_sku, "half_hour_ms", MS_PER_HALF_HOUR, 0, _extra_sku, ("sku",)),
    (rollup_half_hour_key, "half_hour_ms", MS_PER_HALF_HOUR, 0, _extra_key, ("api_key_id",)),
    (rollup_quarter_currency, "quarter_ms", MS_PER_QUARTER, 0, _extra_none, ()),
    (rollup_quarter_sku, "quarter_ms", MS_PER_QUARTER, 0, _extra_sku, ("sku",)),
    (rollup_quarter_key, "quarter_ms", MS_PER_QUARTER, 0, _extra_key_sku, ("api_key_id", "sku")),
)


async def update_rollups(conn: AsyncConnection, stored: Sequence[StoredEntry]) -> None:
    """Add the batch's entries to every rollup, in the caller's transaction. The batch is summed
    once per quarter hour, currency, key and SKU, and every rollup from those sums (each grain
    is a whole number of quarter hours), as `store.write_postgresql` does."""
    fine: Sums = {}
    for item in stored:
        entry = item.entry
        quarter = entry.ts_ms - entry.ts_ms % MS_PER_QUARTER  # Python's % floors, before 1970 too
        key = (entry.account_id, quarter, entry.currency, entry.api_key_id or NO_KEY, entry.sku)
        total = fine.setdefault(key, [Decimal(0), Decimal(0)])
        total[0] += entry.amount
        total[1] += entry.units
    for table, column, size, phase, extra, extra_columns in _ROLLUPS:
        sums: Sums = {}
        for (account, quarter, currency, api_key, sku), (amount, units) in fine.items():
            rolled = (account, quarter - (quarter - phase) % size, currency, *extra(api_key, sku))
            total = sums.setdefault(rolled, [Decimal(0), Decimal(0)])
            total[0] += amount
            total[1] += units
        await _upsert(conn, table, (column, "currency", *extra_columns), sums)
    await _upsert(conn, rollup_quarter_tag, _TAG_COLUMNS, _tag_sums(stored))


_TAG_COLUMNS = ("quarter_ms", "tag_key", "tag_value", "currency", "sku")


def _tag_sums(stored: Sequence[StoredEntry]) -> Sums:
    """Per quarter hour, tag key and value, currency and SKU: an entry adds to one row per tag."""
    sums: Sums = {}
    for item in stored:
        entry = item.entry
        if entry.tags is None:
            continue
        quarter = entry.ts_ms - entry.ts_ms % MS_PER_QUARTER
        for tag_key, tag_value in orjson.loads(entry.tags).items():
            key = (entry.account_id, quarter, tag_key, tag_value, entry.currency, entry.sku)
            total = sums.setdefault(key, [Decimal(0), Decimal(0)])
            total[0] += entry.amount
            total[1] += entry.units
    return sums


async def _upsert(
    conn: AsyncConnection, table: Table, key_columns: tuple[str, ...], sums: Sums
) -> None:
    if not sums:
        return
    names = ("account_id", *key_columns)
    rows: list[dict[str, Any]] = []
    # Sorted by (account, day, currency, extra): every writer takes row locks in this order.
    for key in sorted(sums):
        row: dict[str, Any] = dict(zip(names, key, strict=True))
        row["amount"], row["units"] = sums[key]
        rows.append(row)
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(names),
        set_={
            "amount": table.c.amount + statement.excluded.amount,
            "units": table.c.units + statement.excluded.units,
        },
    )
    await conn.execute(statement, rows)

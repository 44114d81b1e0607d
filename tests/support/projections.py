"""The projections recomputed from the stored entries alone: the reference every projection
table (balances, DIEM days, count buckets, rollups) must equal, row for row and figure for
figure.

The recomputation is independent of the store on purpose: it shares no code with
`store/rollups.py`, `store/write_sqlite.py` or `store/write_postgresql.py` (no bucket function,
no grain table, no constant), only the tables' names and columns, looked up by name. Its
arithmetic is written here from what the projections promise (docs/architecture.md): sums of
the entries' exact amounts and units per floored UTC quarter hour, hour and day (Python's `%`
floors, before 1970 too), a key-less entry counted under the key "", non-DIEM entries consumed
from the balance, DIEM ones from their UTC day. A mistake in the store cannot hide in both.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.harness import Harness
from usagebook.store.engine import Database
from usagebook.store.tables import metadata

QUARTER = 900_000
HALF_HOUR = 1_800_000
HOUR = 3_600_000
SIX_HOURS = 21_600_000
DAY = 86_400_000
Rows = dict[tuple[Any, ...], tuple[Any, ...]]
_MONEY = ("amount", "units")

# Each projection table by name: its key columns and its figures, in the order both sides
# build them.
SHAPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "account_balances": (("account_id", "currency"), ("granted", "consumed")),
    "diem_days": (("account_id", "day"), ("consumed",)),
    "usage_count_buckets": (("account_id", "hour_ms", "currency"), ("entries",)),
    "usage_count_days": (("account_id", "day_ms", "currency"), ("entries",)),
    "rollup_day_currency": (("account_id", "day_ms", "currency"), _MONEY),
    "rollup_day_sku": (("account_id", "day_ms", "currency", "sku"), _MONEY),
    "rollup_day_key": (("account_id", "day_ms", "currency", "api_key_id"), _MONEY),
    "rollup_hour_currency": (("account_id", "hour_ms", "currency"), _MONEY),
    "rollup_hour_sku": (("account_id", "hour_ms", "currency", "sku"), _MONEY),
    "rollup_hour_key": (("account_id", "hour_ms", "currency", "api_key_id", "sku"), _MONEY),
    "rollup_quarter_currency": (("account_id", "quarter_ms", "currency"), _MONEY),
    "rollup_quarter_sku": (("account_id", "quarter_ms", "currency", "sku"), _MONEY),
    "rollup_quarter_key": (("account_id", "quarter_ms", "currency", "api_key_id", "sku"), _MONEY),
    "rollup_six_hour_sku": (("account_id", "six_hour_ms", "currency", "sku"), _MONEY),
    "rollup_six_hour_key": (("account_id", "six_hour_ms", "currency", "api_key_id"), _MONEY),
    "rollup_half_hour_sku": (("account_id", "half_hour_ms", "currency", "sku"), _MONEY),
    "rollup_half_hour_key": (("account_id", "half_hour_ms", "currency", "api_key_id"), _MONEY),
    "rollup_half_past_hour_sku": (("account_id", "half_past_hour_ms", "currency", "sku"), _MONEY),
    "rollup_half_past_six_hour_sku": (
        ("account_id", "half_past_six_hour_ms", "currency", "sku"), _MONEY),
    "rollup_quarter_tag": (
        ("account_id", "quarter_ms", "tag_key", "tag_value", "currency", "sku"), _MONEY),
}
PROJECTIONS = {name: (metadata.tables[name], keys, figures)
               for name, (keys, figures) in SHAPES.items()}
_ENTRY = ("account_id", "api_key_id", "ts_ms", "sku", "units", "amount", "currency", "tags")


async def _read(conn: AsyncConnection, table_name: str, columns: Iterable[str],
                accounts: list[str]) -> list[tuple[Any, ...]]:
    table = metadata.tables[table_name]
    query = select(*(table.c[name] for name in columns))
    return [tuple(row) for row in await conn.execute(query.where(table.c.account_id.in_(accounts)))]


async def read_projections(db: Database, accounts: list[str]) -> dict[str, Rows]:
    """Every projection table's rows of `accounts`, keyed by their key columns."""
    found = {}
    async with db.read() as conn:
        for name, (keys, figures) in SHAPES.items():
            rows = await _read(conn, name, (*keys, *figures), accounts)
            found[name] = {row[: len(keys)]: row[len(keys):] for row in rows}
            assert len(found[name]) == len(rows)
    return found


async def recompute(db: Database, accounts: list[str]) -> dict[str, Rows]:
    """What every projection should hold, from the stored entries and grants alone."""
    async with db.read() as conn:
        entries = await _read(conn, "usage_entries", _ENTRY, accounts)
        grants = await _read(conn, "credit_grants", ("account_id", "currency", "amount"),
                             accounts)
    return recomputed(entries, grants)


def _sums(pairs: Iterable[tuple[tuple[Any, ...], tuple[Decimal, ...]]]) -> Rows:
    totals: dict[tuple[Any, ...], list[Decimal]] = {}
    for key, figures in pairs:
        running = totals.setdefault(key, [Decimal(0)] * len(figures))
        for index, figure in enumerate(figures):
            running[index] += figure
    return {key: tuple(values) for key, values in totals.items()}


def recomputed(entries: list[tuple[Any, ...]], grants: list[tuple[Any, ...]]) -> dict[str, Rows]:
    """The projections of `entries` (rows of `_ENTRY`'s columns) and `grants` (account,
    currency, amount)."""
    balances = _sums(
        [((a, c), (g, Decimal(0))) for a, c, g in grants]
        + [((a, c), (Decimal(0), -amount))
           for a, _, _, _, _, amount, c, _ in entries if c != "DIEM"]
    )
    diem = _sums(
        ((a, ts // DAY), (-amount,)) for a, _, ts, _, _, amount, c, _ in entries if c == "DIEM"
    )
    hours = Counter((a, ts - ts % HOUR, c) for a, _, ts, _, _, _, c, _ in entries)
    days = Counter((a, ts - ts % DAY, c) for a, _, ts, _, _, _, c, _ in entries)
    return {
        "account_balances": balances,
        "diem_days": diem,
        "usage_count_buckets": {key: (n,) for key, n in hours.items()},
        "usage_count_days": {key: (n,) for key, n in days.items()},
        "rollup_day_currency": _sums(
            ((a, ts - ts % DAY, c), (amount, units)) for a, _, ts, _, units, amount, c, _ in entries
        ),
        "rollup_day_sku": _sums(
            ((a, ts - ts % DAY, c, sku), (amount, units))
            for a, _, ts, sku, units, amount, c, _ in entries
        ),
        "rollup_day_key": _sums(
            ((a, ts - ts % DAY, c, key or ""), (amount, units))
            for a, key, ts, _, units, amount, c, _ in entries
        ),
        **grain_rollups([entry[:7] for entry in entries]),
        "rollup_quarter_tag": _sums(
            ((a, ts - ts % QUARTER, key, value, c, sku), (amount, units))
            for a, _, ts, sku, units, amount, c, tags in entries if tags
            for key, value in json.loads(tags).items()
        ),
    }


def grain_rollups(entries: list[Any]) -> dict[str, Rows]:
    """The hour and quarter-hour rollups of (account, key, ts, sku, units, amount, currency)
    rows (floored buckets, keys with their SKU), the six-hour and half-hour ones (keys
    without it), and the hours and six hours from half past."""
    found = {f"rollup_half_past_{grain}_sku": _sums(
        ((a, ts - (ts - HALF_HOUR) % size, c, sku), (amount, units))
        for a, _, ts, sku, units, amount, c in entries
    ) for grain, size in (("hour", HOUR), ("six_hour", SIX_HOURS))}
    for grain, size in (("six_hour", SIX_HOURS), ("half_hour", HALF_HOUR)):
        found[f"rollup_{grain}_sku"] = _sums(
            ((a, ts - ts % size, c, sku), (amount, units))
            for a, _, ts, sku, units, amount, c in entries
        )
        found[f"rollup_{grain}_key"] = _sums(
            ((a, ts - ts % size, c, key or ""), (amount, units))
            for a, key, ts, _, units, amount, c in entries
        )
    for grain, size in (("hour", HOUR), ("quarter", QUARTER)):
        found[f"rollup_{grain}_currency"] = _sums(
            ((a, ts - ts % size, c), (amount, units)) for a, _, ts, _, units, amount, c in entries
        )
        found[f"rollup_{grain}_sku"] = _sums(
            ((a, ts - ts % size, c, sku), (amount, units))
            for a, _, ts, sku, units, amount, c in entries
        )
        found[f"rollup_{grain}_key"] = _sums(
            ((a, ts - ts % size, c, key or "", sku), (amount, units))
            for a, key, ts, sku, units, amount, c in entries
        )
    return found


def differences(found: dict[str, Rows], expected: dict[str, Rows]) -> dict[str, list[str]]:
    """Per projection, each key whose rows differ (missing, extra, or other figures)."""
    return {name: wrong for name in SHAPES if (wrong := [
        f"{key}: {found[name].get(key)} where {expected[name].get(key)} was expected"
        for key in sorted(set(found[name]) | set(expected[name]), key=repr)
        if found[name].get(key) != expected[name].get(key)
    ])}


def assert_exact_types(rows_by_name: dict[str, Rows]) -> None:
    """Counts are ints and money is Decimal, never a float."""
    for name, rows in rows_by_name.items():
        kind = int if name.startswith("usage_count") else Decimal
        assert all(type(value) is kind for figures in rows.values() for value in figures), name


def assert_projections_match(harness: Harness, accounts: list[str]) -> dict[str, Rows]:
    """Every projection of `accounts` equals its recomputation; returns the recomputation."""
    stored = harness.call(lambda db: read_projections(db, accounts))
    expected = harness.call(lambda db: recompute(db, accounts))
    assert differences(stored, expected) == {}, (
        f"{harness.backend}: projections disagree with the entries")
    assert_exact_types(stored)
    return expected


def entry_currencies(harness: Harness, account_id: str) -> set[str]:
    async def read(db: Database) -> set[str]:
        async with db.read() as conn:
            return {row[0] for row in await _read(conn, "usage_entries", ("currency",),
                                                  [account_id])}

    return harness.call(read)

"""The projections recomputed from the stored entries alone: the reference every projection
table (balances, DIEM days, count buckets, rollups) must equal, row for row and figure for
figure. Python's `//` and `%` floor, which is what the hour and day keys promise, before 1970 too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, select

from tests.support.harness import Harness
from usagebook.store.engine import Database
from usagebook.store.tables.balances import account_balances, credit_grants, diem_days
from usagebook.store.tables.entries import usage_count_buckets, usage_count_days, usage_entries
from usagebook.store.tables.rollups import (
    rollup_day_currency,
    rollup_day_key,
    rollup_day_sku,
    rollup_half_hour_key,
    rollup_half_hour_sku,
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

QUARTER = 900_000
HALF_HOUR = 1_800_000
HOUR = 3_600_000
SIX_HOURS = 21_600_000
DAY = 86_400_000
Rows = dict[tuple[Any, ...], tuple[Any, ...]]

# Each projection table: its key columns and its figures, in the order both sides build them.
PROJECTIONS: dict[str, tuple[Table, tuple[str, ...], tuple[str, ...]]] = {
    "account_balances": (account_balances, ("account_id", "currency"), ("granted", "consumed")),
    "diem_days": (diem_days, ("account_id", "day"), ("consumed",)),
    "usage_count_buckets": (
        usage_count_buckets,
        ("account_id", "hour_ms", "currency"),
        ("entries",),
    ),
    "usage_count_days": (usage_count_days, ("account_id", "day_ms", "currency"), ("entries",)),
    "rollup_day_currency": (
        rollup_day_currency,
        ("account_id", "day_ms", "currency"),
        ("amount", "units"),
    ),
    "rollup_day_sku": (
        rollup_day_sku,
        ("account_id", "day_ms", "currency", "sku"),
        ("amount", "units"),
    ),
    "rollup_day_key": (
        rollup_day_key,
        ("account_id", "day_ms", "currency", "api_key_id"),
        ("amount", "units"),
    ),
    **{
        f"rollup_{grain}_{dimension}": (table, ("account_id", f"{grain}_ms", "currency", *extra),
                                        ("amount", "units"))
        for grain, dimension, table, extra in (
            ("hour", "currency", rollup_hour_currency, ()),
            ("hour", "sku", rollup_hour_sku, ("sku",)),
            ("hour", "key", rollup_hour_key, ("api_key_id", "sku")),
            ("quarter", "currency", rollup_quarter_currency, ()),
            ("quarter", "sku", rollup_quarter_sku, ("sku",)),
            ("quarter", "key", rollup_quarter_key, ("api_key_id", "sku")),
            ("six_hour", "sku", rollup_six_hour_sku, ("sku",)),
            ("six_hour", "key", rollup_six_hour_key, ("api_key_id",)),
            ("half_hour", "sku", rollup_half_hour_sku, ("sku",)),
            ("half_hour", "key", rollup_half_hour_key, ("api_key_id",)),
        )
    },
    "rollup_quarter_tag": (
        rollup_quarter_tag,
        ("account_id", "quarter_ms", "tag_key", "tag_value", "currency", "sku"),
        ("amount", "units"),
    ),
}


def read_columns(harness: Harness, table: Table, columns: Iterable[str],
                 accounts: list[str]) -> list[Any]:
    async def work(db: Database) -> list[Any]:
        async with db.read() as conn:
            query = select(*(table.c[name] for name in columns))
            result = await conn.execute(query.where(table.c.account_id.in_(accounts)))
            return [tuple(row) for row in result]

    return harness.call(work)


def stored_projections(harness: Harness, accounts: list[str]) -> dict[str, Rows]:
    found = {}
    for name, (table, keys, figures) in PROJECTIONS.items():
        rows = read_columns(harness, table, (*keys, *figures), accounts)
        found[name] = {row[: len(keys)]: row[len(keys) :] for row in rows}
        assert len(found[name]) == len(rows)
    return found


def _sums(pairs: Iterable[tuple[tuple[Any, ...], tuple[Decimal, ...]]]) -> Rows:
    totals: dict[tuple[Any, ...], list[Decimal]] = {}
    for key, figures in pairs:
        running = totals.setdefault(key, [Decimal(0)] * len(figures))
        for index, figure in enumerate(figures):
            running[index] += figure
    return {key: tuple(values) for key, values in totals.items()}


def recomputed_projections(harness: Harness, accounts: list[str]) -> dict[str, Rows]:
    """What every projection should hold, from the stored entries and grants alone."""
    entries = read_columns(
        harness,
        usage_entries,
        ("account_id", "api_key_id", "ts_ms", "sku", "units", "amount", "currency"),
        accounts,
    )
    grants = read_columns(harness, credit_grants, ("account_id", "currency", "amount"), accounts)
    balances = _sums(
        [((a, c), (g, Decimal(0))) for a, c, g in grants]
        + [((a, c), (Decimal(0), -amount)) for a, _, _, _, _, amount, c in entries if c != "DIEM"]
    )
    diem = _sums(
        ((a, ts // DAY), (-amount,)) for a, _, ts, _, _, amount, c in entries if c == "DIEM"
    )
    hours = Counter((a, ts - ts % HOUR, c) for a, _, ts, _, _, _, c in entries)
    days = Counter((a, ts - ts % DAY, c) for a, _, ts, _, _, _, c in entries)
    return {
        "account_balances": balances,
        "diem_days": diem,
        "usage_count_buckets": {key: (n,) for key, n in hours.items()},
        "usage_count_days": {key: (n,) for key, n in days.items()},
        "rollup_day_currency": _sums(
            ((a, ts - ts % DAY, c), (amount, units)) for a, _, ts, _, units, amount, c in entries
        ),
        "rollup_day_sku": _sums(
            ((a, ts - ts % DAY, c, sku), (amount, units))
            for a, _, ts, sku, units, amount, c in entries
        ),
        "rollup_day_key": _sums(
            ((a, ts - ts % DAY, c, key or ""), (amount, units))
            for a, key, ts, _, units, amount, c in entries
        ),
        **grain_rollups(entries),
        "rollup_quarter_tag": _tag_rollup(harness, accounts),
    }


def _tag_rollup(harness: Harness, accounts: list[str]) -> Rows:
    """One row per tag of each tagged entry, per quarter hour, currency and SKU."""
    tagged = read_columns(harness, usage_entries,
                   ("account_id", "ts_ms", "sku", "units", "amount", "currency", "tags"), accounts)
    return _sums(
        ((a, ts - ts % QUARTER, key, value, c, sku), (amount, units))
        for a, ts, sku, units, amount, c, tags in tagged if tags
        for key, value in json.loads(tags).items()
    )


def grain_rollups(entries: list[Any]) -> dict[str, Rows]:
    """The hour and quarter-hour rollups (floored buckets, keys with their SKU), and the
    six-hour and half-hour ones (keys without it)."""
    found = {}
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


def _difference(stored: Rows, expected: Rows) -> list[str]:
    return [
        f"{key}: stored {stored.get(key)}, recomputed {expected.get(key)}"
        for key in sorted(set(stored) | set(expected), key=repr)
        if stored.get(key) != expected.get(key)
    ]


def assert_projections_match(harness: Harness, accounts: list[str]) -> dict[str, Rows]:
    """Every projection of `accounts` equals its recomputation; returns the recomputation."""
    stored = stored_projections(harness, accounts)
    expected = recomputed_projections(harness, accounts)
    problems = {
        name: found for name in PROJECTIONS if (found := _difference(stored[name], expected[name]))
    }
    assert problems == {}, f"{harness.backend}: projections disagree with the entries"
    for name, rows in stored.items():  # exact types: counts are ints, money never a float
        kind = int if name.startswith("usage_count") else Decimal
        assert all(type(value) is kind for figures in rows.values() for value in figures), name
    return expected


def entry_currencies(harness: Harness, account_id: str) -> set[str]:
    return {row[0] for row in read_columns(harness, usage_entries, ("currency",), [account_id])}

"""The same ledger written to SQLite and to PostgreSQL leaves the same projections, row for row.

SQLite's projections are kept in Python (`store.write_sqlite`), PostgreSQL's in one SQL statement
(`store.write_postgresql`): two implementations of one rule. The same accounts, grants and
batches of entries are written to both databases through `store.write.write_batch`, and every
projection table (balances, DIEM days, count buckets and days, every rollup) must hold the same
rows with the same exact figures on both, each equal to the recomputation from the entries
(`tests.support.projections`, which shares no code with either).

The ledger is picked to be awkward: every SKU of the demo catalog, the three stored currencies,
several keys and none, tags (one to three keys, shared values), nine-decimal units, timestamps on
and next to UTC midnights, hours and quarter hours (before 1970 too), repeats within a batch and
across batches.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from dataclasses import replace
from decimal import Decimal
from typing import Any

from tests.support.factories import CURRENCIES, random_entries, store_entries
from tests.support.harness import make_settings
from tests.support.projections import (
    DAY,
    HOUR,
    QUARTER,
    Rows,
    assert_exact_types,
    differences,
    read_projections,
    recompute,
    recomputed,
)
from usagebook.ledger.balances import grant_credit
from usagebook.ledger.catalog import DEMO_CATALOG
from usagebook.money import charge_amount
from usagebook.store.accounts import insert_account
from usagebook.store.engine import create_database
from usagebook.store.rows import NewEntry

GRANTS = (("USD", "BUNDLED_CREDITS", "USD"), ("12.5", "0.000000001", "1000"))
KEYS = (None, "key_xdbA", "key_xdbB", "key_xdbC")
TAGS = (None, {"project": "alpha"}, {"project": "beta", "user": "u-1"},
        {"env": "prod", "project": "alpha", "team": "ml.ops"})
MIDNIGHT = 1_767_225_600_000  # 2026-01-01T00:00:00Z
EDGES = sorted({base + offset for base in (MIDNIGHT, MIDNIGHT + DAY, 0, -DAY)
                for offset in (-DAY - 1, -HOUR - 1, -HOUR, -QUARTER - 1, -QUARTER, -1, 0, 1,
                               QUARTER - 1, QUARTER, HOUR - 1, HOUR, DAY - 1)})


def tags_text(tags: dict[str, str] | None) -> str | None:
    """Tags as the recording path stores them: canonical JSON (keys sorted, compact)."""
    return json.dumps(tags, sort_keys=True, separators=(",", ":")) if tags else None


def _ledger(accounts: list[str]) -> list[list[NewEntry]]:
    """Three batches: every SKU, currency, key and tag set on the edges, then a random spread
    over two weeks around the midnight, then repeats of both with a few new entries."""
    rng = random.Random(18)
    edge_entries = []
    for index, ts in enumerate(EDGES):
        for turn, sku in enumerate(DEMO_CATALOG):
            units = Decimal(rng.randint(1, 9_999_999_999)).scaleb(-9)
            edge_entries.append(NewEntry(
                account_id=accounts[(index + turn) % len(accounts)],
                api_key_id=KEYS[(index * 7 + turn) % len(KEYS)], ts_ms=ts, sku=sku.sku,
                price_per_unit_usd=sku.price_per_unit_usd, units=units,
                amount=charge_amount(sku.price_per_unit_usd, units),
                currency=CURRENCIES[(index + 2 * turn) % len(CURRENCIES)],
                request_id=f"edge-{index}-{turn}",
                tags=tags_text(TAGS[(index + turn) % len(TAGS)])))
    spread = [
        replace(entry, tags=tags_text(rng.choice(TAGS)))
        for number, account in enumerate(accounts)
        for entry in random_entries(account, 150, seed=40 + number, span_ms=14 * DAY,
                                    end_ms=MIDNIGHT + 7 * DAY, key_ids=KEYS)
    ]
    rng.shuffle(spread)
    repeats = rng.sample(edge_entries, 30) + rng.sample(spread, 30) + edge_entries[:3]
    fresh = random_entries(accounts[0], 20, seed=99, span_ms=2 * DAY, end_ms=MIDNIGHT + DAY,
                           key_ids=KEYS)
    return [edge_entries + edge_entries[:5], spread, repeats + fresh]


async def _write_and_read(url: str, accounts: list[str],
                          batches: list[list[NewEntry]]) -> tuple[dict[str, Rows], ...]:
    database = create_database(make_settings(url))
    try:
        async with database.write() as conn:
            for account in accounts:
                await insert_account(conn, account, "across databases", 0)
        for account, currency, amount in zip(accounts, *GRANTS, strict=True):
            await grant_credit(database, account, currency, amount, "test")
        for batch in batches:
            await store_entries(database, batch)
        return await read_projections(database, accounts), await recompute(database, accounts)
    finally:
        await database.dispose()


def test_sqlite_and_postgresql_hold_the_same_projections(database_urls: dict[str, str]) -> None:
    accounts = [f"acct_xdb{secrets.token_hex(6)}{n}" for n in range(3)]
    batches = _ledger(accounts)
    on_sqlite, from_sqlite_entries = asyncio.run(
        _write_and_read(database_urls["sqlite"], accounts, batches))
    on_postgresql, from_postgresql_entries = asyncio.run(
        _write_and_read(database_urls["postgresql"], accounts, batches))

    assert differences(on_postgresql, on_sqlite) == {}
    # Each database stored each (account, request, SKU) once: the repeats added nothing.
    assert differences(from_sqlite_entries, _written_once(batches, accounts)) == {}
    assert from_postgresql_entries == from_sqlite_entries  # the same entries were stored
    assert differences(on_sqlite, from_sqlite_entries) == {}
    assert_exact_types(on_sqlite)
    assert_exact_types(on_postgresql)
    _assert_awkward(on_sqlite)


def _written_once(batches: list[list[NewEntry]], accounts: list[str]) -> dict[str, Rows]:
    """The projections of the batches' entries, each key's first only, and of the grants."""
    first: dict[tuple[str, str, str], NewEntry] = {}
    for entry in (entry for batch in batches for entry in batch):
        first.setdefault((entry.account_id, entry.request_id, entry.sku), entry)
    entries = [(e.account_id, e.api_key_id, e.ts_ms, e.sku, e.units, e.amount, e.currency,
                e.tags) for e in first.values()]
    return recomputed(entries, [(account, currency, Decimal(amount)) for account, currency, amount
                                in zip(accounts, *GRANTS, strict=True)])


def _assert_awkward(rows: dict[str, Any]) -> None:
    """The ledger reached what it was picked for (else the comparison proves little)."""
    assert all(rows.values()), [name for name, found in rows.items() if not found]
    assert {key[3] for key in rows["rollup_day_sku"]} == {sku.sku for sku in DEMO_CATALOG}
    assert {key[2] for key in rows["rollup_day_currency"]} == set(CURRENCIES)
    assert {key[3] for key in rows["rollup_day_key"]} == {key or "" for key in KEYS}
    assert {key[2] for key in rows["rollup_quarter_tag"]} == {"env", "project", "team", "user"}
    days = {key[1] for key in rows["rollup_day_currency"]}
    assert {MIDNIGHT - DAY, MIDNIGHT, MIDNIGHT + DAY, -DAY, -2 * DAY} <= days
    units = [figures[1] for figures in rows["rollup_quarter_sku"].values()]
    assert any(value != value.quantize(Decimal("0.000001")) for value in units)

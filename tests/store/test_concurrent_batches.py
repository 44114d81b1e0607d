"""Concurrent batches that share rollup rows neither deadlock nor lose an addition."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from tests.support.analytics import entry, exact, get, today
from tests.support.factories import store_entries
from tests.support.harness import Harness, Tenant
from usagebook.store.engine import Database
from usagebook.store.rows import NewEntry

ROUNDS = 8


def test_concurrent_batches_in_opposite_orders_add_up(harness: Harness, tenant: Tenant) -> None:
    days = [today() - timedelta(days=n) for n in range(4)]
    skus = ["flux-dev-image-unit", "hidream-image-unit", "venice-sd35-image-unit"]

    def batch(tag: str, reverse: bool) -> list[NewEntry]:
        made = [entry(tenant.account_id, sku, "1", "USD", day=day, request_id=f"{tag}-{sku}-{day}")
                for day in days for sku in skus]
        return made[::-1] if reverse else made

    async def race(db: Database) -> None:
        for n in range(ROUNDS):
            await asyncio.gather(store_entries(db, batch(f"a{n}", False)),
                                 store_entries(db, batch(f"b{n}", True)))

    harness.call(race)
    body = exact(get(harness, tenant, lookback="4d"))
    per_day = Decimal("0.03") * 2 * ROUNDS  # three one-cent images, two batches a round
    assert [row["USD"] for row in body["byDate"]] == [per_day] * 4
    assert {m["modelName"]: m["totalUsd"] for m in body["byModel"]} == {
        name: Decimal("0.08") * ROUNDS for name in ("FLUX Standard", "HiDream", "Venice SD35")}

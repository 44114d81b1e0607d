"""Property: for random ledgers, every figure equals the exact sum of its raw entries, and the
totals by day, model and key agree with each other (both backends)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.support.analytics import DIEM_LIKE, SKUS, USD_LIKE, entry, exact, get, spend, today
from tests.support.factories import store_entries
from tests.support.harness import Harness
from usagebook.store.engine import Database
from usagebook.store.rows import NewEntry
from usagebook.store.tables.entries import usage_entries
from usagebook.timeutil import MS_PER_DAY, day_start_ms

SKU_NAMES = sorted(SKUS)
units = st.builds(lambda n, places: str(Decimal(n).scaleb(-places)),
                  st.integers(1, 10**9), st.integers(3, 9))
raw_entry = st.tuples(st.integers(0, 8), st.sampled_from(SKU_NAMES),
                      st.sampled_from(("USD", "DIEM", "BUNDLED_CREDITS")), st.integers(0, 2),
                      units, st.integers(0, MS_PER_DAY - 1))


async def sql_day_sums(db: Database, account_id: str) -> dict[tuple[int, str], Decimal]:
    """Plain GROUP BY over the raw entries, the reference the rollups must match."""
    day = (usage_entries.c.ts_ms // MS_PER_DAY) * MS_PER_DAY
    query = (select(day, usage_entries.c.currency, func.sum(usage_entries.c.amount))
             .where(usage_entries.c.account_id == account_id)
             .group_by(day, usage_entries.c.currency))
    async with db.read() as conn:
        return {(int(d), c): -amount for d, c, amount in await conn.execute(query)}


def model_units(entries: list[NewEntry]) -> Decimal:
    return sum((e.units * SKUS[e.sku].unit_type_per_unit for e in entries), Decimal(0))


@given(raws=st.lists(raw_entry, min_size=1, max_size=40), cut=st.integers(0, 40))
def test_every_figure_is_the_exact_sum_of_its_entries(
    harness: Harness, raws: list[tuple[Any, ...]], cut: int
) -> None:
    tenant = harness.tenant()
    keys = (None, tenant.admin_key_id, tenant.inference_key_id)
    made = [entry(tenant.account_id, sku, amount_units, currency, day=today() - timedelta(days=d),
                  key_id=keys[k], request_id=f"r{i}", offset_ms=offset)
            for i, (d, sku, currency, k, amount_units, offset) in enumerate(raws)]
    # Two batches, then the first again: a duplicate must not count twice.
    for batch in (made[:cut], made[cut:], made[:cut]):
        harness.call(lambda db, batch=batch: store_entries(db, batch))
    first, last = today() - timedelta(days=7), today() - timedelta(days=1)
    body = exact(get(harness, tenant, startDate=first.isoformat(), endDate=last.isoformat()))
    inside = [e for e in made if day_start_ms(first) <= e.ts_ms < day_start_ms(last) + MS_PER_DAY]

    reference = harness.call(lambda db: sql_day_sums(db, tenant.account_id))
    for row in body["byDate"]:
        day_ms = day_start_ms(date.fromisoformat(row["date"]))
        on_day = [e for e in inside if e.ts_ms - e.ts_ms % MS_PER_DAY == day_ms]
        assert row["USD"] == spend(on_day, USD_LIKE)
        assert row["DIEM"] == spend(on_day, DIEM_LIKE)
        assert row["USD"] == sum((reference.get((day_ms, c), 0) for c in USD_LIKE), Decimal(0))
        assert row["DIEM"] == reference.get((day_ms, "DIEM"), 0)

    by_model: dict[str, list[NewEntry]] = defaultdict(list)
    by_key: dict[str | None, list[NewEntry]] = defaultdict(list)
    for e in inside:
        by_model[SKUS[e.sku].model_name].append(e)
        by_key[e.api_key_id].append(e)
    models = {m["modelName"]: m for m in body["byModel"]}
    assert set(models) == set(by_model)
    for name, entries in by_model.items():
        assert models[name]["totalUsd"] == spend(entries, USD_LIKE)
        assert models[name]["totalDiem"] == spend(entries, DIEM_LIKE)
        assert models[name]["totalUnits"] == model_units(entries)
    found_keys = {k["apiKeyId"]: k for k in body["byKey"]}
    assert set(found_keys) == set(by_key)
    for key_id, entries in by_key.items():
        assert found_keys[key_id]["totalUsd"] == spend(entries, USD_LIKE)
        assert found_keys[key_id]["totalDiem"] == spend(entries, DIEM_LIKE)
        assert found_keys[key_id]["totalUnits"] == sum((e.units for e in entries), Decimal(0))

    for day_field, total_field in (("USD", "totalUsd"), ("DIEM", "totalDiem")):
        days = sum((row[day_field] for row in body["byDate"]), Decimal(0))
        assert days == sum((m[total_field] for m in body["byModel"]), Decimal(0))
        assert days == sum((k[total_field] for k in body["byKey"]), Decimal(0))
    for row in body["byModelDaily"]:
        day_ms = row["date"]
        for name in body["topModels"]:
            on_day = [e for e in by_model[name] if e.ts_ms - e.ts_ms % MS_PER_DAY == day_ms]
            assert row[name] == spend(on_day, DIEM_LIKE)
    for row in body["byKeyDaily"]:
        names = {k["description"]: k["apiKeyId"] for k in body["byKey"]}
        for name in body["topKeyNames"]:
            on_day = [e for e in by_key[names[name]]
                      if e.ts_ms - e.ts_ms % MS_PER_DAY == row["date"]]
            assert row[name] == spend(on_day, DIEM_LIKE)

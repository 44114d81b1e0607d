"""A key's spend in its limit window and over the trailing seven days equals the exact sum of
its entries in those UTC days, read from the rollup (both databases)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.support.factories import CURRENCIES, random_entries, store_entries
from tests.support.harness import Harness, Tenant
from usagebook.ledger.key_usage import (
    LimitPeriod,
    Spend,
    current_period_usage,
    period_window,
    seven_day_window,
    trailing_seven_days,
    usage_of_keys,
)
from usagebook.ledger.keys import get_key
from usagebook.store.key_spend import Window
from usagebook.store.rows import NewEntry
from usagebook.timeutil import MS_PER_DAY, to_ms

NOW = to_ms(datetime(2026, 3, 10, 15, 30, tzinfo=UTC))


def test_windows_are_whole_utc_days() -> None:
    day = to_ms(datetime(2026, 3, 10, tzinfo=UTC))
    assert period_window("EPOCH", NOW) == Window(day, day + MS_PER_DAY)
    assert period_window("MONTH", NOW) == Window(to_ms(datetime(2026, 3, 1, tzinfo=UTC)),
                                                 to_ms(datetime(2026, 4, 1, tzinfo=UTC)))
    december = to_ms(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    assert period_window("MONTH", december).end_ms == to_ms(datetime(2027, 1, 1, tzinfo=UTC))
    assert period_window("LIFETIME", NOW) == Window(None, None)
    assert seven_day_window(NOW) == Window(day - 6 * MS_PER_DAY, day + MS_PER_DAY)
    with pytest.raises(ValueError):
        period_window("WEEK", NOW)


def _expected(entries: list[NewEntry], key_id: str, window: Window) -> Spend:
    usd = diem = Decimal(0)
    for entry in entries:
        day = entry.ts_ms - entry.ts_ms % MS_PER_DAY
        if entry.api_key_id != key_id:
            continue
        if window.start_ms is not None and day < window.start_ms:
            continue
        if window.end_ms is not None and day >= window.end_ms:
            continue
        if entry.currency == "DIEM":
            diem -= entry.amount
        else:
            usd -= entry.amount
    return Spend(usd=usd, diem=diem)


@pytest.mark.parametrize("period", list(LimitPeriod))
def test_spend_is_the_exact_sum_of_the_keys_entries(
    harness: Harness, tenant: Tenant, period: LimitPeriod
) -> None:
    key_ids = (tenant.admin_key_id, tenant.inference_key_id, None)
    # 60 days before NOW and a day after it: every window has entries outside it on both sides.
    entries = random_entries(tenant.account_id, 400, seed=7, span_ms=60 * MS_PER_DAY,
                             end_ms=NOW + MS_PER_DAY, key_ids=key_ids)
    # ... and some of the key's own in each currency on NOW's day (every window holds it).
    entries[:6] = [replace(entry, ts_ms=NOW - n, api_key_id=key_ids[1], currency=CURRENCIES[n % 3])
                   for n, entry in enumerate(entries[:6])]
    harness.call(lambda db: store_entries(db, entries))
    key = harness.call(lambda db: get_key(db, tenant.inference_key_id))
    key = type(key)(**{**key.__dict__, "limit_period": period.value})

    spent = harness.call(lambda db: current_period_usage(db, key, NOW))
    assert spent == _expected(entries, key.id, period_window(period, NOW))
    assert spent.usd > 0 and spent.diem > 0
    seven = harness.call(lambda db: trailing_seven_days(db, key, NOW))
    assert seven == _expected(entries, key.id, seven_day_window(NOW))

    async def both(db):  # type: ignore[no-untyped-def]
        async with db.read() as conn:
            return await usage_of_keys(conn, tenant.account_id, [key], NOW)

    usage = harness.call(both)[key.id]
    assert (usage.current_period, usage.trailing_seven_days) == (spent, seven)


def test_a_key_without_entries_has_spent_nothing(harness: Harness, tenant: Tenant) -> None:
    key = harness.call(lambda db: get_key(db, tenant.admin_key_id))
    assert harness.call(lambda db: current_period_usage(db, key, NOW)) == Spend()

"""GET /billing/usage-analytics with `timeZone`: local days in zones with half- and quarter-hour
offsets, DST days of 23 and 25 hours, and historic offsets off the quarter hour, compared
figure by figure with sums over the stored entries (both backends)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import jsonschema
from hypothesis import given
from hypothesis import strategies as st

from tests.support.analytics import ANALYTICS_SCHEMA, SKUS, exact, get, today
from tests.support.factories import store_entries
from tests.support.harness import Harness, Tenant
from tests.support.local_analytics import (
    Stored,
    by_local_day,
    grouped,
    local_midnight_ms,
    spend,
    stored_entries,
)
from usagebook.money import charge_amount
from usagebook.store.rows import NewEntry

ZONES = ("Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "America/New_York",
         "Europe/London", "Australia/Lord_Howe", "Pacific/Chatham", "UTC")
# Periods that hold DST changes (2026: US 8 Mar and 1 Nov, EU 29 Mar and 25 Oct, Lord Howe
# 5 Apr and 4 Oct) and one in 1900, when Kolkata was +05:21:10 and London +00:00.
PERIODS = ((date(2026, 3, 5), date(2026, 4, 6)), (date(2026, 10, 2), date(2026, 11, 3)),
           (date(1900, 1, 1), date(1900, 1, 9)))
SKU_NAMES = sorted(SKUS)
MINUTE = 60_000
NEAR = (0, 1, -1, 15 * MINUTE, -15 * MINUTE, 30 * MINUTE, -30 * MINUTE, 45 * MINUTE,
        -45 * MINUTE, 60 * MINUTE, -60 * MINUTE, 90 * MINUTE, 5 * 60 * MINUTE + 30 * MINUTE)


def _entry(tenant: Tenant, n: int, ts_ms: int, sku: str, currency: str, key: int,
           units: str) -> NewEntry:
    row = SKUS[sku]
    keys = (None, tenant.admin_key_id, tenant.inference_key_id)
    return NewEntry(tenant.account_id, keys[key], ts_ms, sku, row.price_per_unit_usd,
                    Decimal(units), charge_amount(row.price_per_unit_usd, Decimal(units)),
                    currency, f"tz-{n}")


def _near_midnights(zone: ZoneInfo, first: date, last: date) -> list[int]:
    days = [first + timedelta(days=n) for n in range(-1, (last - first).days + 2)]
    return [local_midnight_ms(day, zone) + delta for day in days for delta in NEAR]


def assert_matches_entries(body: dict, entries: list[Stored], first: date, last: date,
                           zone: ZoneInfo) -> None:
    """Every figure of the answer equals the sum over the entries of the zone's local days."""
    days = by_local_day(entries, first, last, zone)
    assert [row["date"] for row in body["byDate"]] == [day.isoformat() for day in days]
    for row in body["byDate"]:
        assert (row["USD"], row["DIEM"]) == spend(days[date.fromisoformat(row["date"])]), row
    inside = [entry for on_day in days.values() for entry in on_day]
    models = grouped(inside, lambda e: SKUS[e.sku].model_name)
    assert {m["modelName"] for m in body["byModel"]} == set(models)
    for line in body["byModel"]:
        on_model = models[line["modelName"]]
        assert (line["totalUsd"], line["totalDiem"]) == spend(on_model)
        assert line["totalUnits"] == sum((e.type_units for e in on_model), Decimal(0))
    keys = grouped(inside, lambda e: e.api_key_id)
    assert {k["apiKeyId"] for k in body["byKey"]} == set(keys)
    for line in body["byKey"]:
        on_key = keys[line["apiKeyId"]]
        assert (line["totalUsd"], line["totalDiem"]) == spend(on_key)
        assert line["totalUnits"] == sum((e.units for e in on_key), Decimal(0))
    midnights = [local_midnight_ms(day, zone) for day in days]
    assert [row["date"] for row in body["byModelDaily"]] == midnights
    key_names = {k["description"]: k["apiKeyId"] for k in body["byKey"]}
    for row, on_day in zip(body["byModelDaily"], days.values(), strict=True):
        for name in body["topModels"]:
            expected = spend([e for e in on_day if SKUS[e.sku].model_name == name])[1]
            assert row[name] == expected, (row, name)
    for row, on_day in zip(body["byKeyDaily"], days.values(), strict=True):
        for name in body["topKeyNames"]:
            expected = spend([e for e in on_day if e.api_key_id == key_names[name]])[1]
            assert row[name] == expected, (row, name)


@given(period=st.sampled_from(PERIODS), zone_name=st.sampled_from(ZONES),
       picks=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(SKU_NAMES),
                                st.sampled_from(("USD", "DIEM", "BUNDLED_CREDITS")),
                                st.integers(0, 2), st.integers(1, 10**6)),
                      min_size=1, max_size=60))
def test_local_days_equal_the_sums_of_their_entries(
    harness: Harness, period: tuple[date, date], zone_name: str,
    picks: list[tuple[int, str, str, int, int]],
) -> None:
    tenant = harness.tenant()
    zone = ZoneInfo(zone_name)
    first, last = period
    moments = _near_midnights(zone, first, last)
    made = [_entry(tenant, n, moments[spot % len(moments)] + (spot // len(moments)) % 7,
                   sku, currency, key, str(Decimal(units).scaleb(-3)))
            for n, (spot, sku, currency, key, units) in enumerate(picks)]
    harness.call(lambda db: store_entries(db, made))
    answer = get(harness, tenant, startDate=first.isoformat(), endDate=last.isoformat(),
                 timeZone=zone_name)
    assert answer.status_code == 200, answer.text
    jsonschema.validate(answer.json(), ANALYTICS_SCHEMA)
    assert_matches_entries(exact(answer), stored_entries(harness, tenant.account_id), first,
                           last, zone)


def test_every_zone_agrees_with_its_entries_on_one_ledger(harness: Harness) -> None:
    """One ledger with entries at every boundary of every zone, read in each zone."""
    tenant = harness.tenant()
    first, last = PERIODS[0]
    made = []
    for z, zone_name in enumerate(ZONES):
        for n, moment in enumerate(_near_midnights(ZoneInfo(zone_name), first, last)):
            sku = SKU_NAMES[(n + z) % len(SKU_NAMES)]
            made.append(_entry(tenant, z * 10_000 + n, moment, sku,
                               ("USD", "DIEM", "BUNDLED_CREDITS")[n % 3], n % 3, f"{n % 7 + 1}"))
    harness.call(lambda db: store_entries(db, made))
    entries = stored_entries(harness, tenant.account_id)
    for zone_name in ZONES:
        answer = get(harness, tenant, startDate=first.isoformat(), endDate=last.isoformat(),
                     timeZone=zone_name)
        assert answer.status_code == 200, answer.text
        assert_matches_entries(exact(answer), entries, first, last, ZoneInfo(zone_name))


def test_dst_days_have_23_and_25_hours(harness: Harness) -> None:
    tenant = harness.tenant()
    zone = ZoneInfo("America/New_York")
    # Hourly entries from 2026-03-07 to 2026-03-09 and 2026-10-31 to 2026-11-02, local.
    made = []
    for first in (date(2026, 3, 7), date(2026, 10, 31)):
        start = local_midnight_ms(first, zone)
        made += [_entry(tenant, first.toordinal() * 100 + h, start + h * 3_600_000,
                        "flux-dev-image-unit", "USD", 0, "1") for h in range(72)]
    harness.call(lambda db: store_entries(db, made))
    spring = exact(get(harness, tenant, startDate="2026-03-07", endDate="2026-03-09",
                       timeZone="America/New_York"))
    autumn = exact(get(harness, tenant, startDate="2026-10-31", endDate="2026-11-02",
                       timeZone="America/New_York"))
    image = Decimal("0.01")  # one image an hour
    assert [row["USD"] for row in spring["byDate"]] == [24 * image, 23 * image, 24 * image]
    assert [row["USD"] for row in autumn["byDate"]] == [24 * image, 25 * image, 23 * image]


def test_utc_zone_gives_the_utc_answer(harness: Harness, tenant: Tenant) -> None:
    from tests.support.factories import random_entries

    keys = (None, tenant.admin_key_id, tenant.inference_key_id)
    made = random_entries(tenant.account_id, 200, seed=5, span_ms=12 * 86_400_000, key_ids=keys)
    harness.call(lambda db: store_entries(db, made))
    plain = get(harness, tenant, lookback="10d")
    zoned = get(harness, tenant, lookback="10d", timeZone="UTC")
    assert plain.status_code == zoned.status_code == 200
    assert zoned.content == plain.content


def test_lookback_counts_whole_local_days_ending_today(harness: Harness, tenant: Tenant) -> None:
    from datetime import UTC, datetime

    for zone_name in ("Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu"):
        local_today = datetime.now(tz=ZoneInfo(zone_name)).date()
        body = get(harness, tenant, lookback="3d", timeZone=zone_name).json()
        expected = [(local_today - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
        assert [row["date"] for row in body["byDate"]] == expected, zone_name
    assert datetime.now(tz=UTC).date() == today()


def test_a_bad_zone_is_named(harness: Harness, tenant: Tenant) -> None:
    for bad in ("Mars/Olympus", "", "asia/kolkata", "+05:30", "localtime", "../etc/passwd"):
        answer = get(harness, tenant, timeZone=bad, lookback="0d")
        assert answer.status_code == 400, (bad, answer.text)
        details = answer.json()["details"]
        assert details["timeZone"]["_errors"] and details["lookback"]["_errors"], bad


def test_cache_is_per_zone(harness: Harness, tenant: Tenant) -> None:
    zone = ZoneInfo("Asia/Kathmandu")
    day = today() - timedelta(days=1)
    # 00:10 local on `day`: the previous UTC day.
    made = [_entry(tenant, 1, local_midnight_ms(day, zone) + 10 * MINUTE,
                   "flux-dev-image-unit", "USD", 0, "1")]
    harness.call(lambda db: store_entries(db, made))
    local = exact(get(harness, tenant, lookback="3d", timeZone="Asia/Kathmandu"))
    utc = exact(get(harness, tenant, lookback="3d"))
    local_days = {row["date"]: row["USD"] for row in local["byDate"]}
    utc_days = {row["date"]: row["USD"] for row in utc["byDate"]}
    assert local_days.get(day.isoformat()) == Decimal("0.01")
    assert utc_days.get((day - timedelta(days=1)).isoformat()) == Decimal("0.01")

"""GET /api/v1/usage/analytics: every bucket of every granularity and grouping, in zones with
half- and quarter-hour offsets and DST, equals the sums computed from the stored entries
themselves (both backends); bad input is a 400 naming each parameter."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.analytics import SKUS, exact
from tests.support.factories import store_entries
from tests.support.harness import Harness, Tenant
from tests.support.local_analytics import Stored, local_day, local_midnight_ms, stored_entries
from tests.support.recording import named_problem
from usagebook.api.event_wire import tags_text
from usagebook.money import charge_amount
from usagebook.store.rows import NewEntry

PATH = "/api/v1/usage/analytics"
ZONES = ("Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "America/New_York",
         "Europe/London", "UTC")
MINUTE, HOUR = 60_000, 3_600_000
# Around the US (8 Mar, 1 Nov) and EU (29 Mar, 25 Oct) DST changes of 2026.
DAYS = [date(2026, 3, 6) + timedelta(days=n) for n in range(26)] + \
    [date(2026, 10, 23) + timedelta(days=n) for n in range(12)]
SKU_NAMES = sorted(SKUS)[:6]
PROJECTS, USERS = ("search", "chat", "ads"), tuple(f"u_{n}" for n in range(7))
_LEDGERS: dict[str, tuple[Tenant, list[Stored]]] = {}


def _ledger(harness: Harness) -> tuple[Tenant, list[Stored]]:
    """One ledger per backend, shared by the examples: entries at local midnights and hour
    edges of every zone, tagged in varied ways (some untagged, some project-only)."""
    if harness.backend in _LEDGERS:
        return _LEDGERS[harness.backend]
    tenant = harness.tenant("local analytics")
    keys = (None, tenant.admin_key_id, tenant.inference_key_id)
    made, n = [], 0
    for z, zone_name in enumerate(ZONES):
        zone = ZoneInfo(zone_name)
        for d, day in enumerate(DAYS[z::3]):
            for delta in (0, 1, -1, 15 * MINUTE, -15 * MINUTE, 30 * MINUTE, 45 * MINUTE,
                          -HOUR + 1, 2 * HOUR + 7, 11 * HOUR + 15 * MINUTE):
                n += 1
                sku = SKU_NAMES[(n + d) % len(SKU_NAMES)]
                tags: dict[str, str] = {}
                if n % 4:
                    tags["project"] = PROJECTS[n % 3]
                if n % 5 < 3:
                    tags["user"] = USERS[n % 7]
                units = Decimal(n % 9 + 1).scaleb(-(n % 4))
                row = SKUS[sku]
                made.append(NewEntry(
                    tenant.account_id, keys[n % 3], local_midnight_ms(day, zone) + delta, sku,
                    row.price_per_unit_usd, units, charge_amount(row.price_per_unit_usd, units),
                    ("USD", "DIEM", "BUNDLED_CREDITS")[n % 3], f"la-{n}", tags=tags_text(tags)))
    harness.call(lambda db: store_entries(db, made))
    _LEDGERS[harness.backend] = (tenant, stored_entries(harness, tenant.account_id))
    return _LEDGERS[harness.backend]


def _label_start(label: str) -> int:
    return int(datetime.fromisoformat(label).timestamp() * 1000)


def _check_labels(body: dict[str, Any], zone: ZoneInfo) -> None:
    """Labels are local starts of their kind, increasing, with the zone's own offsets."""
    starts = [datetime.fromisoformat(label) for label in body["buckets"]]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    for moment in starts:
        local = datetime.fromtimestamp(moment.timestamp(), tz=zone)
        assert local.utcoffset() == moment.utcoffset(), moment
        assert (local.minute, local.second) == (0, 0)
        if body["granularity"] != "hour":
            assert local.hour == 0 or local.date() != (local - timedelta(hours=1)).date()
        if body["granularity"] == "week":
            assert local.weekday() == 0
        if body["granularity"] == "month":
            assert local.day == 1
    first, last = date.fromisoformat(body["start"]), date.fromisoformat(body["end"])
    if body["granularity"] == "day":
        assert [s.date() for s in starts] == [first + timedelta(days=n)
                                              for n in range((last - first).days + 1)]


def _group_of(entry: Stored, group_by: str | None) -> Any:
    if group_by is None:
        return None
    if group_by.startswith("tag:"):
        return entry.tags.get(group_by[4:])
    return {"model": entry.model, "apiKey": entry.api_key_id, "sku": entry.sku,
            "currency": entry.currency}[group_by]


def _matches(entry: Stored, filters: dict[str, str]) -> bool:
    values = {"model": entry.model, "apiKey": entry.api_key_id, "sku": entry.sku,
              "currency": entry.currency}
    return all(
        entry.tags.get(name[4:]) == value if name.startswith("tag.") else values[name] == value
        for name, value in filters.items())


def expected_series(body: dict[str, Any], entries: list[Stored], zone: ZoneInfo,
                    filters: dict[str, str]) -> dict[Any, dict[str, list[Decimal]]]:
    first, last = date.fromisoformat(body["start"]), date.fromisoformat(body["end"])
    starts = [_label_start(label) for label in body["buckets"]]
    count = len(starts)
    series: dict[Any, dict[str, list[Decimal]]] = defaultdict(
        lambda: {k: [Decimal(0)] * count for k in ("usd", "diem", "units")})
    for entry in entries:
        if not first <= local_day(entry.ts_ms, zone) <= last or not _matches(entry, filters):
            continue
        bucket = bisect_right(starts, entry.ts_ms) - 1
        line = series[_group_of(entry, body["groupBy"])]
        kind = "diem" if entry.currency == "DIEM" else "usd"
        line[kind][bucket] -= entry.amount
        line["units"][bucket] += entry.type_units
    if body["groupBy"] is None:
        series[None]  # one series even without entries (defaultdict makes it)
    return dict(series)


def assert_exact(body: dict[str, Any], entries: list[Stored], zone: ZoneInfo,
                 filters: dict[str, str]) -> None:
    _check_labels(body, zone)
    expected = expected_series(body, entries, zone, filters)
    got = {s["group"]: {k: s[k] for k in ("usd", "diem", "units")} for s in body["series"]}
    assert got == expected
    totals = [sum(s["usd"]) + sum(s["diem"]) for s in body["series"]]
    assert totals == sorted(totals, reverse=True)
    assert body["totals"] == {
        "usd": sum((sum(s["usd"]) for s in expected.values()), Decimal(0)),
        "diem": sum((sum(s["diem"]) for s in expected.values()), Decimal(0))}


GROUPINGS = (None, "model", "apiKey", "sku", "currency", "tag:project", "tag:user")
FILTERS = ({}, {"currency": "DIEM"}, {"model": SKUS[SKU_NAMES[0]].model_id},
           {"sku": SKU_NAMES[1]}, {"tag.project": "search"},
           {"tag.project": "chat", "tag.user": "u_3"}, {"tag.user": "u_1", "currency": "USD"})
PERIODS = {"hour": ((date(2026, 3, 7), date(2026, 3, 9)), (date(2026, 10, 24), date(2026, 11, 2))),
           "day": ((date(2026, 3, 6), date(2026, 3, 31)), (date(2026, 10, 23), date(2026, 11, 3))),
           "week": ((date(2026, 3, 4), date(2026, 3, 30)), (date(2026, 10, 25), date(2026, 11, 2))),
           "month": ((date(2026, 3, 2), date(2026, 11, 2)), (date(2026, 3, 29), date(2026, 3, 29)))}


@settings(max_examples=60)
@given(zone_name=st.sampled_from(ZONES), granularity=st.sampled_from(list(PERIODS)),
       which=st.integers(0, 1), group_by=st.sampled_from(GROUPINGS),
       filters=st.sampled_from(FILTERS), key_filter=st.booleans())
def test_every_bucket_equals_its_entries(harness: Harness, zone_name: str, granularity: str,
                                         which: int, group_by: str | None,
                                         filters: dict[str, str], key_filter: bool) -> None:
    tenant, entries = _ledger(harness)
    first, last = PERIODS[granularity][which]
    filters = {**filters, **({"apiKey": tenant.inference_key_id} if key_filter else {})}
    params = {"start": first.isoformat(), "end": last.isoformat(), "timeZone": zone_name,
              "granularity": granularity, **({"groupBy": group_by} if group_by else {}), **filters}
    answer = harness.get(PATH, tenant, params=params)
    assert answer.status_code == 200, answer.text
    body = exact(answer)
    assert set(body) == {"timeZone", "granularity", "start", "end", "groupBy", "buckets",
                         "series", "totals"}
    assert (body["timeZone"], body["granularity"], body["groupBy"]) == (
        zone_name, granularity, group_by)
    assert_exact(body, entries, ZoneInfo(zone_name), filters)


def test_dst_days_have_23_and_25_hour_buckets(harness: Harness) -> None:
    tenant, entries = _ledger(harness)
    for day, hours in (("2026-03-08", 23), ("2026-11-01", 25), ("2026-11-02", 24)):
        body = exact(harness.get(PATH, tenant, params={
            "start": day, "end": day, "timeZone": "America/New_York", "granularity": "hour"}))
        assert len(body["buckets"]) == hours, day
        assert_exact(body, entries, ZoneInfo("America/New_York"), {})
    body = exact(harness.get(PATH, tenant, params={
        "start": "2026-11-01", "end": "2026-11-01", "timeZone": "America/New_York",
        "granularity": "hour"}))
    assert body["buckets"][1:3] == ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00"]


def test_weeks_and_months_are_whole_and_labelled_by_their_start(harness: Harness) -> None:
    tenant, _ = _ledger(harness)
    body = harness.get(PATH, tenant, params={"start": "2026-03-04", "end": "2026-03-17",
                                             "timeZone": "Asia/Kolkata",
                                             "granularity": "week"}).json()
    assert body["buckets"] == ["2026-03-02T00:00:00+05:30", "2026-03-09T00:00:00+05:30",
                               "2026-03-16T00:00:00+05:30"]
    body = harness.get(PATH, tenant, params={"start": "2026-03-31", "end": "2026-04-01",
                                             "timeZone": "America/St_Johns",
                                             "granularity": "month"}).json()
    assert body["buckets"] == ["2026-03-01T00:00:00-03:30", "2026-04-01T00:00:00-02:30"]


def test_an_empty_period_has_one_zero_series(harness: Harness, tenant: Tenant) -> None:
    body = exact(harness.get(PATH, tenant, params={"start": "2026-01-01", "end": "2026-01-02"}))
    assert body["buckets"] == ["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"]
    assert body["series"] == [{"group": None, "usd": [0, 0], "diem": [0, 0], "units": [0, 0]}]
    assert body["totals"] == {"usd": 0, "diem": 0}
    grouped = exact(harness.get(PATH, tenant, params={"start": "2026-01-01", "end": "2026-01-02",
                                                      "groupBy": "model"}))
    assert grouped["series"] == [] and grouped["groupBy"] == "model"


@pytest.mark.parametrize(("params", "named"), [
    ({}, "start"),
    ({"start": "2026-01-01"}, "end"),
    ({"start": "2026-02-30", "end": "2026-03-01"}, "start"),
    ({"start": "2026-01-02", "end": "2026-01-01"}, "start"),
    ({"start": "2025-01-01", "end": "2026-02-05"}, "end"),
    ({"start": "2026-01-01", "end": "2026-02-01", "granularity": "hour"}, "end"),
    ({"start": "2026-01-01", "end": "2026-01-01", "granularity": "minute"}, "granularity"),
    ({"start": "2026-01-01", "end": "2026-01-01", "timeZone": "Asia/Calcutta_"}, "timeZone"),
    ({"start": "2026-01-01", "end": "2026-01-01", "groupBy": "team"}, "groupBy"),
    ({"start": "2026-01-01", "end": "2026-01-01", "groupBy": "tag:Team"}, "groupBy"),
    ({"start": "2026-01-01", "end": "2026-01-01", "currency": "EUR"}, "currency"),
    ({"start": "2026-01-01", "end": "2026-01-01", "tag.team": "a b"}, "tag.team"),
    ({"start": "2026-01-01", "end": "2026-01-01", "apiKey": "k" * 41}, "apiKey"),
])
def test_bad_input_is_named(harness: Harness, tenant: Tenant, params: dict[str, str],
                            named: str) -> None:
    answer = harness.get(PATH, tenant, params=params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]
    assert named_problem(answer, named)


def test_every_problem_at_once_and_admin_only(harness: Harness, tenant: Tenant) -> None:
    answer = harness.get(PATH, tenant, params={"start": "x", "end": "y", "granularity": "z",
                                               "timeZone": "Nowhere", "groupBy": "q"})
    assert set(answer.json()["details"]) == {"_errors", "start", "end", "granularity",
                                             "timeZone", "groupBy"}
    inference = harness.get(PATH, headers={"Authorization": f"Bearer {tenant.inference_key}"},
                            params={"start": "2026-01-01", "end": "2026-01-01"})
    assert inference.status_code == 401

"""Local days and hours from zone rules: DST days, midnights that do not exist, hours that
exist twice, half-hour DST shifts, and the analytics cache's lifetime per zone."""

from __future__ import annotations

from datetime import date, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

from usagebook.errors import ProblemCollector
from usagebook.ledger.analytics.summary import CACHE_TTL_MS, cache_ttl_ms
from usagebook.ledger.local_time import (
    day_boundaries,
    day_start_ms,
    hour_boundaries,
    label,
    parse_zone,
)
from usagebook.timeutil import to_ms

HOUR = 3_600_000


def test_dst_days_are_23_and_25_hours_long() -> None:
    zone = ZoneInfo("Europe/London")
    spring = day_boundaries(date(2026, 3, 29), date(2026, 3, 29), zone)
    autumn = day_boundaries(date(2026, 10, 25), date(2026, 10, 25), zone)
    assert spring[1] - spring[0] == 23 * HOUR and autumn[1] - autumn[0] == 25 * HOUR


def test_a_missing_midnight_starts_the_day_at_the_jump() -> None:
    # Cuba moves its clocks from 00:00 to 01:00: 2026-03-08 starts at 01:00 CDT.
    zone = ZoneInfo("America/Havana")
    start = day_start_ms(date(2026, 3, 8), zone)
    assert label(start, zone) == "2026-03-08T01:00:00-04:00"
    assert start - day_start_ms(date(2026, 3, 7), zone) == 24 * HOUR
    hours = hour_boundaries(date(2026, 3, 8), date(2026, 3, 8), zone)
    assert len(hours) - 1 == 23 and hours[0] == start


def test_an_hour_that_exists_twice_is_two_buckets() -> None:
    zone = ZoneInfo("America/New_York")
    hours = hour_boundaries(date(2026, 11, 1), date(2026, 11, 1), zone)
    labels = [label(moment, zone) for moment in hours[:-1]]
    assert len(labels) == 25
    assert labels[1:3] == ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00"]


def test_half_hour_dst_keeps_hours_whole_or_longer() -> None:
    zone = ZoneInfo("Australia/Lord_Howe")  # +11 -> +10:30 on 2026-04-05 at 02:00
    hours = hour_boundaries(date(2026, 4, 5), date(2026, 4, 5), zone)
    assert hours[-1] - hours[0] == 24 * HOUR + 30 * 60_000
    assert all(b > a for a, b in pairwise(hours))
    assert all(label(m, zone)[14:19] == "00:00" for m in hours[:-1])


def test_historic_offsets_off_the_quarter_hour_are_kept() -> None:
    zone = ZoneInfo("Asia/Kolkata")
    assert label(day_start_ms(date(1900, 1, 1), zone), zone) == "1900-01-01T00:00:00+05:21:10"


def test_zone_names_are_iana_only() -> None:
    for bad in ("", "localtime", "asia/kolkata", "+05:30", "../../etc/passwd", "Asia/Kolkata\n"):
        problems = ProblemCollector()
        assert parse_zone(bad, problems) is None and problems.problems["time_zone"], bad
    assert str(parse_zone("Asia/Kathmandu", ProblemCollector())) == "Asia/Kathmandu"


def test_a_cached_answer_never_outlives_its_local_day() -> None:
    zone = ZoneInfo("Asia/Kathmandu")
    late = to_ms(datetime(2026, 6, 15, 23, 55, tzinfo=zone))
    assert cache_ttl_ms(late, zone) == 5 * 60_000
    assert cache_ttl_ms(late) == CACHE_TTL_MS  # 18:10 UTC: ten minutes left in the UTC day
    assert cache_ttl_ms(to_ms(datetime(2026, 6, 15, 12, 0, tzinfo=zone)), zone) == CACHE_TTL_MS

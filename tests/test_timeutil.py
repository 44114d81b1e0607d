"""timeutil.py: epoch milliseconds in and out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usagebook.timeutil import (
    DATE_TIME_EXPECTED,
    day_of_ms,
    day_start_ms,
    format_ms,
    is_date_time_text,
    month_span,
    parse_date_time,
    to_ms,
)


@pytest.mark.parametrize(("epoch_ms", "text"), [
    (0, "1970-01-01T00:00:00.000Z"),
    (1, "1970-01-01T00:00:00.001Z"),
    (999, "1970-01-01T00:00:00.999Z"),
    (1_781_550_310_504, "2026-06-15T19:05:10.504Z"),
    (1_767_225_599_999, "2025-12-31T23:59:59.999Z"),
    (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
])
def test_format_ms(epoch_ms: int, text: str) -> None:
    assert format_ms(epoch_ms) == text


@given(st.integers(min_value=0, max_value=253_402_300_799_999))
def test_format_ms_round_trips(epoch_ms: int) -> None:
    text = format_ms(epoch_ms)
    assert len(text) == 24 and text.endswith("Z")
    assert to_ms(datetime.fromisoformat(text)) == epoch_ms


def test_to_ms_takes_naive_as_utc_and_honours_offsets() -> None:
    aware = datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    assert to_ms(aware) == to_ms(datetime(2026, 1, 1)) == 1_767_225_600_000


def test_to_ms_truncates_or_rounds_up_sub_milliseconds() -> None:
    moment = datetime(2026, 1, 1, 0, 0, 0, 1_500, tzinfo=UTC)
    assert to_ms(moment) == 1_767_225_600_001
    assert to_ms(moment, round_up=True) == 1_767_225_600_002
    whole = datetime(2026, 1, 1, 0, 0, 0, 2_000, tzinfo=UTC)
    assert to_ms(whole, round_up=True) == to_ms(whole) == 1_767_225_600_002
    before_epoch = datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC)
    assert (to_ms(before_epoch), to_ms(before_epoch, round_up=True)) == (-1, 0)


def test_days() -> None:
    assert day_of_ms(1_767_225_599_999).isoformat() == "2025-12-31"
    assert day_start_ms(day_of_ms(1_767_225_600_000)) == 1_767_225_600_000


@given(st.integers(min_value=0, max_value=253_402_300_799_999))
def test_parse_date_time_reads_what_format_ms_writes(epoch_ms: int) -> None:
    assert to_ms(parse_date_time(format_ms(epoch_ms))) == epoch_ms


@pytest.mark.parametrize("text", ["2026-06-15", "2026-06-15T", "20260615T190510Z", "yesterday",
                                  "2026-06-15T19:05:10.5Z ", "2026-02-30T00:00:00Z"])
def test_parse_date_time_refuses_anything_but_a_date_time(text: str) -> None:
    with pytest.raises(ValueError, match=DATE_TIME_EXPECTED):
        parse_date_time(text)
    assert is_date_time_text(text) == (text == "2026-02-30T00:00:00Z")


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 11, 30)))
def test_month_span_is_the_utc_calendar_month(moment: datetime) -> None:
    at = to_ms(moment.replace(tzinfo=UTC))
    start, end = month_span(at)
    first = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    following = (first + timedelta(days=32)).replace(day=1)
    assert (start, end) == (to_ms(first), to_ms(following))
    assert start <= at < end


@pytest.mark.parametrize(("text", "start", "end"), [
    ("2026-12-31T23:59:59.999Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
    ("2028-02-29T12:00:00Z", "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z"),
    ("2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"),
])
def test_month_span_edges(text: str, start: str, end: str) -> None:
    def ms(value: str) -> int:
        return to_ms(parse_date_time(value))

    assert month_span(ms(text)) == (ms(start), ms(end))

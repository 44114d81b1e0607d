"""api/usage_params.py: the raw query of /billing/usage becomes one UsageQuery or one error
naming every bad parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from usagebook.api.usage import USAGE_FIELDS
from usagebook.api.usage_params import usage_query
from usagebook.errors import InvalidInput

NONE = {"currency": None, "start_date": None, "end_date": None, "limit": None, "page": None,
        "sort_order": None}


def _query(**raw: str) -> object:
    return usage_query("acct_x", **{**NONE, **raw})


def _problems(**raw: str) -> set[str]:
    with pytest.raises(InvalidInput) as caught:
        _query(**raw)
    return set(caught.value.named(USAGE_FIELDS).problems)


def test_defaults() -> None:
    query = _query()
    assert (query.limit, query.page, query.descending, query.currency, query.start,  # type: ignore[attr-defined]
            query.end) == (200, 1, True, None, None, None)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-06-15T19:05:10.504Z", datetime(2026, 6, 15, 19, 5, 10, 504_000, tzinfo=UTC)),
    ("2026-06-15t19:05:10z", datetime(2026, 6, 15, 19, 5, 10, tzinfo=UTC)),
    ("2026-06-15 19:05", datetime(2026, 6, 15, 19, 5)),
    ("2026-06-15T19:05:10.123456789+02:00",
     datetime(2026, 6, 15, 19, 5, 10, 123_456, tzinfo=timezone(timedelta(hours=2)))),
    ("2026-06-15T19:05:10-0130",
     datetime(2026, 6, 15, 19, 5, 10, tzinfo=timezone(-timedelta(hours=1, minutes=30)))),
])
def test_date_times(raw: str, expected: datetime) -> None:
    assert _query(start_date=raw).start == expected  # type: ignore[attr-defined]


@pytest.mark.parametrize("raw", ["yesterday", "2026-06-15", "1700000000", "2026-02-30T00:00:00Z",
                                 "2026-06-15T25:00:00Z", "2026-06-15T19:05:10+24:00", "",
                                 "2026-06-15T19:05:10ZZ",
                                 "\uff12\uff10\uff12\uff16-06-15T00:00:00Z"])
def test_bad_date_times(raw: str) -> None:
    assert _problems(start_date=raw) == {"startDate"}


@pytest.mark.parametrize("raw", ["abc", "", "1.0", "1e2", " 5", "5 ", "1_0", "\u0665", "0x10"])
def test_bad_integers(raw: str) -> None:
    assert _problems(limit=raw, page=raw) == {"limit", "page"}


def test_integers() -> None:
    query = _query(limit="+7", page="0012")
    assert (query.limit, query.page) == (7, 12)  # type: ignore[attr-defined]


def test_every_problem_at_once() -> None:
    assert _problems(currency="EUR", start_date="2026-02-01T00:00:00Z",
                     end_date="2026-01-01T00:00:00Z", limit="0", page="x",
                     sort_order="up") == {"currency", "startDate", "limit", "page", "sortOrder"}


def test_sort_and_currency() -> None:
    assert _query(sort_order="asc").descending is False  # type: ignore[attr-defined]
    assert _query(currency="VCU").currency == "VCU"  # type: ignore[attr-defined]

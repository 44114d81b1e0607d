"""The query of GET /api/v1/usage/analytics, checked as one input that names every bad
parameter at once, and the local buckets it asks for.

Buckets are local to the query's zone: hours, days, weeks (from Monday) or months. Weeks and months
are the whole calendar ones that contain `start`..`end`, labelled by their own local start,
while only entries inside `start`..`end` count: the first and last bucket's ranges are clipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from usagebook.errors import ProblemCollector
from usagebook.ledger import filters
from usagebook.ledger.events import TagFilters, tag_key_ok
from usagebook.ledger.local_time import (
    day_boundaries,
    day_start_ms,
    hour_boundaries,
    label,
    parse_zone,
)
from usagebook.money import Currency

GRANULARITIES = ("hour", "day", "week", "month")
# What a series can be grouped by: one of the filters (by its field name), or tag:<key>.
GROUPS = ("model", "api_key", "sku", "currency")
MAX_DAYS, MAX_HOUR_DAYS = 400, 31
CURRENCIES = tuple(c.value for c in Currency)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)  # fullmatch; ASCII digits only


@dataclass(frozen=True)
class RawAnalyticsQuery:
    """The parameters as sent (text), before any check."""

    account_id: str
    start: str | None = None
    end: str | None = None
    time_zone: str | None = None
    granularity: str | None = None
    group_by: str | None = None
    model: str | None = None
    api_key: str | None = None
    sku: str | None = None
    currency: str | None = None
    tags: TagFilters = ()  # read and checked at the edge


@dataclass(frozen=True)
class AnalyticsQuery:
    account_id: str
    start: date
    end: date
    zone_name: str
    zone: ZoneInfo
    granularity: str
    group_by: str | None  # one of GROUPS or tag:<key>
    model: str | None
    api_key: str | None
    sku: str | None
    currency: str | None
    tags: TagFilters

    @property
    def group_tag(self) -> str | None:
        return self.group_by[4:] if self.group_by and self.group_by.startswith("tag:") else None


def check_query(raw: RawAnalyticsQuery) -> AnalyticsQuery:
    """The checked query; InvalidInput naming every bad parameter otherwise."""
    problems = ProblemCollector()
    zone = parse_zone(raw.time_zone, problems)
    first = _date(raw.start, "start", problems)
    last = _date(raw.end, "end", problems)
    granularity = raw.granularity or "day"
    if granularity not in GRANULARITIES:
        problems.add("granularity", f"must be one of {', '.join(GRANULARITIES)}")
    if first and last:
        most = MAX_HOUR_DAYS if granularity == "hour" else MAX_DAYS
        if filters.check_order(problems, first, last, "start", "end") and (
                last - first).days + 1 > most:
            problems.add("end", f"must be at most {most} days after {{start}}, both included"
                                f"{' (for hours)' if most == MAX_HOUR_DAYS else ''}")
    _check_group(raw.group_by, problems)
    filters.check_name(problems, raw.model, "model", 200)
    filters.check_name(problems, raw.api_key, "api_key", 40)
    filters.check_name(problems, raw.sku, "sku", 200)
    filters.check_currency(problems, raw.currency, CURRENCIES)
    problems.raise_if_any()
    assert zone is not None and first is not None and last is not None
    return AnalyticsQuery(raw.account_id, first, last, raw.time_zone or "UTC", zone, granularity,
                          raw.group_by, raw.model, raw.api_key, raw.sku, raw.currency, raw.tags)


def _date(value: str | None, name: str, problems: ProblemCollector) -> date | None:
    if value is None:
        problems.add(name, "is required (a local date, YYYY-MM-DD)")
        return None
    try:
        if _DATE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    problems.add(name, "must be a real date in YYYY-MM-DD format")
    return None


def _check_group(group_by: str | None, problems: ProblemCollector) -> None:
    if group_by is None or group_by in GROUPS:
        return
    if group_by.startswith("tag:") and tag_key_ok(group_by[4:]):
        return
    choices = ", ".join(f"{{{name}}}" for name in GROUPS)  # as the caller spells them
    problems.add("group_by", f"must be one of {choices} or tag:<key>")


@dataclass(frozen=True)
class Buckets:
    """What each bucket counts, [bounds[k], bounds[k + 1]), and its label."""

    bounds: list[int]
    labels: list[str]


def buckets(query: AnalyticsQuery) -> Buckets:
    zone, first, last = query.zone, query.start, query.end
    if query.granularity == "hour":
        bounds = hour_boundaries(first, last, zone)
        return Buckets(bounds, [label(b, zone) for b in bounds[:-1]])
    days = day_boundaries(first, last, zone)
    if query.granularity == "day":
        return Buckets(days, [label(b, zone) for b in days[:-1]])
    starts = _calendar_starts(first, last, query.granularity)
    inner = [day_start_ms(day, zone) for day in starts[1:]]
    return Buckets([days[0], *inner, days[-1]],
                   [label(day_start_ms(day, zone), zone) for day in starts])


def _calendar_starts(first: date, last: date, granularity: str) -> list[date]:
    """The first day of every week (Monday) or month that holds a day of first..last."""
    weeks = granularity == "week"
    day = first - timedelta(days=first.weekday()) if weeks else first.replace(day=1)
    starts = []
    while day <= last:
        starts.append(day)
        day = day + timedelta(days=7) if weeks else (day + timedelta(days=32)).replace(day=1)
    return starts

"""Which UTC days an analytics request covers: `lookback` (`Nd`) or `start_date` + `end_date`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from usagebook.errors import ProblemCollector
from usagebook.ledger import filters

MAX_DAYS = 90
DEFAULT_LOOKBACK = "7d"
# Matched whole (fullmatch: `$` would also match before a trailing newline), ASCII digits only.
_LOOKBACK = re.compile(r"[1-9][0-9]*d", re.ASCII)
MAX_LOOKBACK_DIGITS = 6
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


@dataclass(frozen=True)
class Period:
    """Inclusive UTC days; `label` is what the answer's `lookback` echoes."""

    first: date
    last: date
    label: str

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def resolve_period(
    today: date, lookback: str | None, start_date: str | None, end_date: str | None
) -> Period:
    """The period a request asks for, or InvalidInput naming every bad parameter.

    `Nd` is the N whole UTC days ending today (today included), clamped to 90 days. Explicit
    dates must come together, be real YYYY-MM-DD dates, start <= end, and span at most 90 days;
    when given they define the period (a valid `lookback` beside them is ignored).
    """
    problems = ProblemCollector()
    if lookback is not None and not _LOOKBACK.fullmatch(lookback):
        problems.add("lookback", "must be a whole number of days such as 7d (1d or more)")
    elif lookback is not None and len(lookback) - 1 > MAX_LOOKBACK_DIGITS:
        problems.add("lookback", f"must have at most {MAX_LOOKBACK_DIGITS} digits (90d is used)")
    if start_date is None and end_date is None:
        problems.raise_if_any()
        return _lookback_period(today, lookback or DEFAULT_LOOKBACK)
    first = _parse_date(problems, "start_date", start_date, "end_date")
    last = _parse_date(problems, "end_date", end_date, "start_date")
    if filters.check_order(problems, first, last, "start_date", "end_date") and first and last \
            and (last - first).days + 1 > MAX_DAYS:
        problems.add("end_date",
                     f"must be at most {MAX_DAYS} days after {{start_date}}, both included")
    problems.raise_if_any()
    assert first is not None and last is not None
    return Period(first, last, f"{start_date}:{end_date}")


def _lookback_period(today: date, lookback: str) -> Period:
    days = min(int(lookback[:-1]), MAX_DAYS)
    return Period(today - timedelta(days=days - 1), today, f"{days}d")


def _parse_date(
    problems: ProblemCollector, name: str, value: str | None, other: str
) -> date | None:
    if value is None:
        problems.add(name, f"is required when {{{other}}} is given")
        return None
    if not _DATE.fullmatch(value):
        problems.add(name, "must be a date in YYYY-MM-DD format")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.add(name, "must be a real calendar date (YYYY-MM-DD)")
        return None

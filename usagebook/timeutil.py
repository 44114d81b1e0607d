"""UTC time as integer epoch milliseconds, the ledger's storage and ordering unit."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime

MS_PER_DAY = 86_400_000
DATE_TIME_EXPECTED = "must be an ISO 8601 date-time, e.g. 2026-06-15T19:05:10.504Z"
# An ISO 8601 date-time: a date, then a time (T or space), then optionally Z or an offset. A bare
# date is refused, as the contract's `format: date-time` parameters refuse it.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}(:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
                        r"([Zz]|[+-]\d{2}(:?\d{2})?)?", re.ASCII)  # always fullmatch


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def is_date_time_text(text: str) -> bool:
    """Whether `text` has the shape `parse_date_time` takes (its values may still be out of
    range, e.g. a 30th of February)."""
    return _DATE_TIME.fullmatch(text) is not None


def parse_date_time(text: str) -> datetime:
    """The moment an ISO 8601 date-time names: aware with Z or an offset, else naive (UTC).
    Raises ValueError with `DATE_TIME_EXPECTED` for anything else, bare dates included."""
    try:
        if _DATE_TIME.fullmatch(text):
            # fromisoformat keeps at most microseconds; nanosecond digits are cut, not rounded.
            # (RFC 3339 allows a lower-case t and z, which fromisoformat does not.)
            return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text.upper()))
    except ValueError:
        pass
    raise ValueError(DATE_TIME_EXPECTED)


def to_ms(moment: datetime, *, round_up: bool = False) -> int:
    """Epoch milliseconds of an aware or naive (taken as UTC) datetime, truncated to the ms, or
    rounded up with `round_up` (an inclusive lower bound must not admit the ms before it)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    millis, micros = divmod(delta.microseconds, 1000)
    whole = (delta.days * 86_400 + delta.seconds) * 1000 + millis
    return whole + 1 if round_up and micros else whole



def month_span(at_ms: int) -> tuple[int, int]:
    """[start, end) in epoch ms of the UTC calendar month holding `at_ms`: the window of a
    MONTH key limit, of account-level limits and of overspend."""
    moment = datetime.fromtimestamp(at_ms // 1000, tz=UTC)
    index = moment.year * 12 + moment.month - 1
    return _month_start(index), _month_start(index + 1)


def _month_start(index: int) -> int:
    return to_ms(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC))

def format_ms(epoch_ms: int) -> str:
    """ISO 8601 UTC with milliseconds and `Z`, e.g. 2026-06-15T19:05:10.504Z."""
    # Entries written together share their stamps (a recorded batch often one): a cache hit
    # skips a datetime and a strftime (bench/hot_choices.py).
    text = _FORMATTED.get(epoch_ms)
    if text is None:
        if len(_FORMATTED) >= 8192:
            _FORMATTED.clear()
        seconds, millis = divmod(epoch_ms, 1000)
        moment = datetime.fromtimestamp(seconds, tz=UTC)
        text = _FORMATTED[epoch_ms] = f"{moment:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"
    return text


_FORMATTED: dict[int, str] = {}


def day_of_ms(epoch_ms: int) -> date:
    return datetime.fromtimestamp((epoch_ms // MS_PER_DAY) * 86_400, tz=UTC).date()


def day_start_ms(day: date) -> int:
    return to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))

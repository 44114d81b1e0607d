"""A customer's own time: IANA zones, local days and hours as epoch-ms boundaries.

Local midnights and hours are found from the zone's rules (zoneinfo), never from a fixed offset,
so days of 23 and 25 hours (DST) come out right. A local midnight that does not exist (a DST
jump at midnight) starts the day at the jump; an hour that exists twice (DST ends) is two
buckets, each labelled with its own offset.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from usagebook.errors import ProblemCollector
from usagebook.timeutil import to_ms

DEFAULT_ZONE = "UTC"
ZONE_PROBLEM = "must be an IANA time zone name such as Asia/Kolkata or America/New_York"


@cache
def _zone_names() -> frozenset[str]:
    # `localtime` is this machine's own setting, not an IANA name.
    return frozenset(available_timezones() - {"localtime", "posixrules"})


def parse_zone(name: str | None, problems: ProblemCollector, field: str = "time_zone"
               ) -> ZoneInfo | None:
    """The zone `name` gives (UTC when None); None and a problem when it is no IANA name."""
    if name is None:
        return ZoneInfo(DEFAULT_ZONE)
    if name not in _zone_names():
        problems.add(field, ZONE_PROBLEM)
        return None
    return ZoneInfo(name)


def local_date(moment_ms: int, zone: ZoneInfo) -> date:
    # Whole seconds (floored) are enough to know the date.
    return datetime.fromtimestamp(moment_ms // 1000, tz=zone).date()


def day_start_ms(day: date, zone: ZoneInfo) -> int:
    """The first instant of the local day (the DST jump, when midnight does not exist)."""
    # fold=0 reads a missing wall time with the offset before the jump: the jump's instant.
    return to_ms(datetime(day.year, day.month, day.day, tzinfo=zone))


def day_boundaries(first: date, last: date, zone: ZoneInfo) -> list[int]:
    """Starts of the local days first..last, then the end of `last` (len = days + 1)."""
    count = (last - first).days + 1
    return [day_start_ms(first + timedelta(days=n), zone) for n in range(count + 1)]


def hour_boundaries(first: date, last: date, zone: ZoneInfo) -> list[int]:
    """Every instant in the local days first..last at which the wall clock shows a whole hour,
    plus the days' starts and the end of `last`, in order."""
    found = set(day_boundaries(first, last, zone))
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        for hour in range(24):
            for fold in (0, 1):
                wall = datetime(day.year, day.month, day.day, hour, tzinfo=zone, fold=fold)
                moment = to_ms(wall)
                # A wall time in a DST gap maps to some other wall time: not an hour start.
                back = datetime.fromtimestamp(moment / 1000, tz=zone)
                if back.replace(tzinfo=None, fold=0) == wall.replace(tzinfo=None, fold=0):
                    found.add(moment)
    end = day_start_ms(last + timedelta(days=1), zone)
    return sorted(moment for moment in found if moment <= end)


def label(moment_ms: int, zone: ZoneInfo) -> str:
    """ISO 8601 local time with its offset, e.g. 2026-03-08T00:00:00-05:00."""
    moment = datetime.fromtimestamp(moment_ms / 1000, tz=zone)
    return moment.isoformat(timespec="seconds") if moment_ms % 1000 == 0 else moment.isoformat()


def next_day_start_ms(now_ms: int, zone: ZoneInfo) -> int:
    """The next local midnight after `now_ms`: when the local day changes."""
    return day_start_ms(local_date(now_ms, zone) + timedelta(days=1), zone)

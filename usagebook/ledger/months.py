"""UTC calendar months, as epoch-millisecond spans: the window of account-level limits and of
overspend."""

from __future__ import annotations

from datetime import UTC, datetime

from usagebook.timeutil import to_ms


def month_span(at_ms: int) -> tuple[int, int]:
    """[start, end) in epoch ms of the UTC calendar month holding `at_ms`."""
    moment = datetime.fromtimestamp(at_ms // 1000, tz=UTC)
    index = moment.year * 12 + moment.month - 1
    return _month_start(index), _month_start(index + 1)


def _month_start(index: int) -> int:
    return to_ms(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC))

"""A clock that stands still until a test moves it, for the rate limiters (`clock=`)."""

from __future__ import annotations


class FrozenClock:
    """Reads `now` (seconds); a test sets it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

"""key.limit.reset: a key that reached its limit in one window enters the next one.

Time, not spend, starts a window, so the delivery workers look (with the expiry scan, about once
a minute): for each key whose limit was reached in the window just before the current one, one
reset crossing per key and window (the unique key decides, whatever the number of processes)
and one event naming the account, the key, its limit period and the new window's start.
"""

from __future__ import annotations

from decimal import Decimal

from usagebook.ledger.alert_events import KEY_RESET
from usagebook.store import alerts as store
from usagebook.store.engine import Database
from usagebook.store.limit_alerts import period_start
from usagebook.store.outbox import EventRow, add_events
from usagebook.timeutil import MS_PER_DAY, now_ms

KIND = "key.reset"
LOOKBACK_MS = 63 * MS_PER_DAY  # the month before the current one starts within this


async def raise_resets(db: Database, now: int) -> int:
    """Write the key.limit.reset events due at `now`; returns how many."""
    async with db.read() as conn:
        reached = await store.limits_reached_since(conn, now - LOOKBACK_MS)
    due = []
    for account_id, key_id, period, start in reached:
        current = period_start(period, now)
        if start == period_start(period, current - 1):  # reached in the window just before
            due.append((account_id, key_id, period, current))
    if not due:
        return 0
    events, written = [], now_ms()
    async with db.write() as conn:
        for account_id, key_id, period, current in due:
            if await store.cross(conn, account_id, KIND, "", Decimal(0), api_key_id=key_id,
                                 period_start_ms=current, now=written):
                events.append(EventRow(store.new_event_id(), account_id, KEY_RESET, written,
                                       api_key_id=key_id, limit_period=period,
                                       period_start_ms=current))
        await add_events(conn, events)
    return len(events)

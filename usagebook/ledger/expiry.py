"""key.expiring: an event 7 days and 1 day before a key expires.

Time, not spend, crosses these lines, so the delivery workers look for them (`raise_expiring`,
about once a minute). The crossing rows' unique key makes it one event per key, window and
expiry date whatever the number of processes looking; a key whose expiry moves is a new
period (its crossing rows are keyed by the expiry itself). A key first seen inside both
windows (it expires in hours) gets one event, not two: the payload would be the same.
"""

from __future__ import annotations

from decimal import Decimal

from usagebook.ledger.alert_events import KEY_EXPIRING
from usagebook.store import alerts as store
from usagebook.store.engine import Database
from usagebook.store.outbox import EventRow, add_events
from usagebook.timeutil import MS_PER_DAY, now_ms

KIND = "key.expiring"
WINDOWS_DAYS = (7, 1)


def _due(expires_ms: int, now: int) -> list[Decimal]:
    return [Decimal(days) for days in WINDOWS_DAYS if expires_ms - now <= days * MS_PER_DAY]


async def raise_expiring(db: Database, now: int) -> int:
    """Write the key.expiring events due at `now` (with their deliveries, due at once);
    returns how many."""
    async with db.read() as conn:
        keys = await store.keys_expiring(conn, now, now + max(WINDOWS_DAYS) * MS_PER_DAY)
        crossed = await store.crossed_thresholds(conn, KIND, [key for key, _, _ in keys])
    waiting = [(key, account, expires) for key, account, expires in keys
               if any((key, days, expires) not in crossed for days in _due(expires, now))]
    if not waiting:
        return 0  # the usual case: no write transaction at all
    events, written = [], now_ms()
    async with db.write() as conn:
        for key_id, account_id, expires_ms in waiting:
            inserted = [await store.cross(conn, account_id, KIND, "", days, api_key_id=key_id,
                                          period_start_ms=expires_ms, now=written)
                        for days in _due(expires_ms, now)]
            if any(inserted):
                events.append(EventRow(store.new_event_id(), account_id, KEY_EXPIRING, written,
                                       api_key_id=key_id, expires_ms=expires_ms))
        await add_events(conn, events)
    return len(events)

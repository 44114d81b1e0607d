"""Limit alerts in SQLite's write path: key and account limits' thresholds crossed by a batch.

After the rollups moved (`store.write_sqlite`), the period usage of each key with a limit, and
the month's usage of each account with a monthly limit, are read back exactly from them; each
threshold (the account's percentages, default 50, 80, 100) now reached is crossed once per key
(or account), limit class and period, by the unique key of alert_crossings. PostgreSQL does
the same inside its write statement (`store.pg_alerts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.alerts import cross, new_event_id, read_settings
from usagebook.store.key_spend import Window, amounts_in_windows
from usagebook.store.limits import spend_by_currency
from usagebook.store.outbox import EventRow, add_events
from usagebook.store.rows import StoredEntry
from usagebook.store.tables.accounts import accounts, api_keys
from usagebook.timeutil import MS_PER_DAY, month_span, now_ms

ZERO = Decimal(0)


def limit_class(currency: str) -> str:
    return "DIEM" if currency == "DIEM" else "USD"


def period_start(period: str, at_ms: int) -> int:
    """The first ms of the limit window holding `at_ms` (0 for LIFETIME): EPOCH is the UTC day,
    MONTH the UTC calendar month (as `ledger.key_usage.period_window`)."""
    if period == "EPOCH":
        return at_ms - at_ms % MS_PER_DAY
    if period == "MONTH":
        return month_span(at_ms)[0]
    return 0


async def project_limit_alerts(conn: AsyncConnection, stored: Sequence[StoredEntry]) -> None:
    now = now_ms()
    candidates = [*await _key_usage(conn, stored, now), *await _account_usage(conn, stored, now)]
    events: list[EventRow] = []
    thresholds: dict[str, tuple[int, ...]] = {}
    for account_id, key_id, currency, period, start, limit, usage in candidates:
        if account_id not in thresholds:
            thresholds[account_id] = (await read_settings(conn, account_id))[0]
        kind = "key.limit" if key_id else "account.limit"
        for percent in thresholds[account_id]:
            if usage * 100 < limit * percent or not await cross(
                conn, account_id, kind, currency, Decimal(percent), api_key_id=key_id,
                period_start_ms=start, now=now,
            ):
                continue
            suffix = "reached" if percent == 100 else "threshold_crossed"
            events.append(EventRow(
                new_event_id(), account_id, f"{kind}.{suffix}", now, api_key_id=key_id or None,
                currency=currency, threshold=Decimal(percent), amount=usage,
                limit_amount=limit, limit_period=period, period_start_ms=start or None))
    await add_events(conn, events)


Candidate = tuple[str, str, str, str, int, Decimal, Decimal]


async def _key_usage(
    conn: AsyncConnection, stored: Sequence[StoredEntry], now: int
) -> list[Candidate]:
    charged = {(s.entry.account_id, s.entry.api_key_id) for s in stored if s.entry.api_key_id}
    if not charged:
        return []
    k = api_keys.c
    limited = (await conn.execute(
        select(k.id, k.account_id, k.consumption_limit_usd, k.consumption_limit_diem,
               k.limit_period)
        .where(k.id.in_(sorted({key for _, key in charged})),
               or_(k.consumption_limit_usd > 0, k.consumption_limit_diem > 0))
    )).all()
    found: list[Candidate] = []
    for key_id, account_id, usd_limit, diem_limit, period in limited:
        start = period_start(period, now)
        window = {"period": Window(start or None, None)}
        sums = await amounts_in_windows(conn, account_id, [key_id], window)
        for currency, limit in (("USD", usd_limit), ("DIEM", diem_limit)):
            if limit is not None and limit > 0:
                usage = -sum((v for (_, _, c), v in sums.items() if limit_class(c) == currency),
                             ZERO)
                found.append((account_id, key_id, currency, period, start, limit, usage))
    return found


async def _account_usage(
    conn: AsyncConnection, stored: Sequence[StoredEntry], now: int
) -> list[Candidate]:
    a = accounts.c
    limited = (await conn.execute(
        select(a.id, a.monthly_limit_usd, a.monthly_limit_diem)
        .where(a.id.in_(sorted({s.entry.account_id for s in stored})),
               or_(a.monthly_limit_usd > 0, a.monthly_limit_diem > 0))
    )).all()
    found: list[Candidate] = []
    start = period_start("MONTH", now)
    for account_id, usd_limit, diem_limit in limited:
        spend = await spend_by_currency(conn, account_id, start, now + MS_PER_DAY)
        for currency, limit in (("USD", usd_limit), ("DIEM", diem_limit)):
            if limit is not None and limit > 0:
                usage = sum((v for c, v in spend.items() if limit_class(c) == currency), ZERO)
                found.append((account_id, "", currency, "MONTH", start, limit, usage))
    return found

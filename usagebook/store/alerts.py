"""Alert settings and crossing state, and the balance-low projection of SQLite's write path.

A crossing is one row of `alert_crossings`, whose primary key is (account, key or '', kind,
currency, threshold, period start). An event is written only when its crossing row is inserted
(ON CONFLICT DO NOTHING), in the transaction of the entries that caused it: "one event per
threshold per key (or account), currency and period, whatever the concurrency" is the unique
key's guarantee, not a read before a write. PostgreSQL does the same inside its write
statement (`store.write_postgresql`).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.balances import read_credits
from usagebook.store.outbox import EventRow, add_events
from usagebook.store.rows import StoredEntry
from usagebook.store.tables.accounts import api_keys
from usagebook.store.tables.alerts import alert_balance_thresholds as abt
from usagebook.store.tables.alerts import alert_crossings as ac
from usagebook.store.tables.alerts import alert_settings
from usagebook.timeutil import now_ms

BALANCE_LOW = "balance.low"  # the crossing kind of account.balance.low
DEFAULT_THRESHOLDS = (50, 80, 100)
MAX_THRESHOLD = Decimal(1_000_000_000)  # the largest balance threshold an account may set


def new_event_id() -> str:
    return f"evt_{secrets.token_hex(12)}"


def _insert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


async def read_settings(
    conn: AsyncConnection, account_id: str
) -> tuple[tuple[int, ...], dict[str, Decimal]]:
    """(key thresholds in percent, ascending; balance thresholds by currency)."""
    stored = (await conn.execute(
        select(alert_settings.c.key_thresholds).where(alert_settings.c.account_id == account_id)
    )).scalar_one_or_none()
    thresholds = tuple(int(p) for p in stored.split(",") if p) if stored else DEFAULT_THRESHOLDS
    rows = await conn.execute(
        select(abt.c.currency, abt.c.threshold).where(abt.c.account_id == account_id)
    )
    return thresholds, {currency: amount for currency, amount in rows}


async def write_settings(
    conn: AsyncConnection, account_id: str, thresholds: Sequence[int],
    balance_below: dict[str, Decimal], now: int,
) -> None:
    statement = _insert(conn)(alert_settings).values(
        account_id=account_id, key_thresholds=",".join(map(str, thresholds)), updated_ms=now)
    await conn.execute(statement.on_conflict_do_update(
        index_elements=["account_id"],
        set_={"key_thresholds": statement.excluded.key_thresholds, "updated_ms": now},
    ))
    await conn.execute(delete(abt).where(abt.c.account_id == account_id))
    if balance_below:
        await conn.execute(abt.insert(), [
            {"account_id": account_id, "currency": currency, "threshold": amount}
            for currency, amount in sorted(balance_below.items())
        ])


async def cross(
    conn: AsyncConnection, account_id: str, kind: str, currency: str, threshold: Decimal, *,
    api_key_id: str = "", period_start_ms: int = 0, now: int,
) -> bool:
    """Record a crossing; True only for the one transaction that inserts it."""
    statement = _insert(conn)(ac).values(
        account_id=account_id, api_key_id=api_key_id, kind=kind, currency=currency,
        threshold=threshold, period_start_ms=period_start_ms, created_ms=now,
    ).on_conflict_do_nothing().returning(ac.c.created_ms)
    return (await conn.execute(statement)).first() is not None


async def project_balance_alerts(conn: AsyncConnection, stored: Sequence[StoredEntry]) -> None:
    """SQLite's write path: after the balances moved, a balance now below its account's
    threshold raises account.balance.low, once until a grant lifts it (`rearm_balance`). Only
    accounts with a balance alert pay more than the one lookup of their thresholds."""
    charged = sorted({(s.entry.account_id, s.entry.currency) for s in stored
                      if s.entry.currency != "DIEM"})
    if not charged:
        return
    accounts = sorted({account for account, _ in charged})
    thresholds = {(a, c): t for a, c, t in await conn.execute(
        select(abt.c.account_id, abt.c.currency, abt.c.threshold)
        .where(abt.c.account_id.in_(accounts))
    )}
    watched = [key for key in charged if key in thresholds]
    if not watched:
        return
    credits = await read_credits(conn, {account for account, _ in watched})
    now, events = now_ms(), []
    for account_id, currency in watched:
        threshold, row = thresholds[(account_id, currency)], credits[(account_id, currency)]
        if row.balance < threshold and await cross(
            conn, account_id, BALANCE_LOW, currency, threshold, now=now
        ):
            events.append(EventRow(new_event_id(), account_id, "account.balance.low", now,
                                   currency=currency, threshold=threshold, amount=row.balance))
    await add_events(conn, events)


async def rearm_balance(
    conn: AsyncConnection, account_id: str, currency: str, balance: Decimal
) -> None:
    """A grant lifted the balance: thresholds it is now at or above may fire again."""
    bound = min(balance, MAX_THRESHOLD)  # SQLite compares whole nano-units in 64 bits
    await conn.execute(delete(ac).where(
        ac.c.account_id == account_id, ac.c.api_key_id == "", ac.c.kind == BALANCE_LOW,
        ac.c.currency == currency, ac.c.threshold <= bound,
    ))


async def keys_expiring(conn: AsyncConnection, now: int, until: int) -> list[tuple[str, str, int]]:
    """(key id, account id, expires_ms) of unrevoked keys expiring in (now, until]."""
    rows = await conn.execute(
        select(api_keys.c.id, api_keys.c.account_id, api_keys.c.expires_ms).where(
            api_keys.c.revoked_ms.is_(None), api_keys.c.expires_ms > now,
            api_keys.c.expires_ms <= until,
        ).order_by(api_keys.c.id)
    )
    return [(key_id, account_id, expires_ms) for key_id, account_id, expires_ms in rows]


async def crossed_thresholds(
    conn: AsyncConnection, kind: str, key_ids: Sequence[str]
) -> set[tuple[str, Decimal, int]]:
    """(key id, threshold, period start) of the given keys' crossings of one kind."""
    if not key_ids:
        return set()
    rows = await conn.execute(
        select(ac.c.api_key_id, ac.c.threshold, ac.c.period_start_ms)
        .where(ac.c.kind == kind, ac.c.api_key_id.in_(sorted(set(key_ids))))
    )
    return {(key_id, threshold, start) for key_id, threshold, start in rows}


async def limits_reached_since(
    conn: AsyncConnection, since_ms: int
) -> list[tuple[str, str, str, int]]:
    """(account, key, limit period, period start) of key limits reached in periods starting at
    or after `since_ms`, for unrevoked keys (LIFETIME limits never reset: left out)."""
    rows = await conn.execute(
        select(ac.c.account_id, ac.c.api_key_id, api_keys.c.limit_period, ac.c.period_start_ms)
        .join(api_keys, (api_keys.c.id == ac.c.api_key_id)
              & (api_keys.c.account_id == ac.c.account_id))
        .where(ac.c.kind == "key.limit", ac.c.threshold == Decimal(100),
               ac.c.period_start_ms >= since_ms, ac.c.period_start_ms > 0,
               api_keys.c.revoked_ms.is_(None))
        .distinct()
    )
    return [(account, key, period, start) for account, key, period, start in rows]

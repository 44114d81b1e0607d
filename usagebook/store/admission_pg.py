"""Authorize's transaction on PostgreSQL, straight on asyncpg: three statements (lock the key's
account, read every figure in one UNION ALL, insert the hold) between BEGIN and COMMIT.

Authorize runs once per inference call. Through SQLAlchemy these statements cost several times
the server CPU they cost on the pooled connection's own asyncpg driver (bench/authorize.py,
docs/performance.md, Authorize). The connection still comes from (and goes back to)
SQLAlchemy's pool, with its pre-ping and its settings (`plan_cache_mode`, `jit`). Connection
failures become StoreUnavailable (503), as SQLAlchemy's are mapped elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import asyncpg

from usagebook.errors import StoreUnavailable
from usagebook.store.admission_state import AdmissionState, LockedKey, StateQuery
from usagebook.store.engine import Database
from usagebook.store.holds import HoldRow, LiveHolds
from usagebook.store.limits import AccountLimits

log = logging.getLogger("usagebook.store")

_KEY_COLUMNS = (
    "SELECT k.id, k.account_id, k.key_type, k.revoked_ms, k.expires_ms, k.consumption_limit_usd, "
    "k.consumption_limit_diem, k.limit_period, a.diem_allocation, a.monthly_limit_usd, "
    "a.monthly_limit_diem FROM api_keys k JOIN accounts a ON a.id = k.account_id "
)
LOCK_BY_ID = _KEY_COLUMNS + "WHERE k.id = $1 FOR UPDATE OF a"
LOCK_BY_HASH = _KEY_COLUMNS + "WHERE k.secret_hash = $1 FOR UPDATE OF a"

# Every figure in one statement: (kind, name, amount, key_amount, then a hold's other fields).
# The holds range is the partial index ix_holds_account_live (unsettled, by expiry); the key's
# spend a range of ix_rollup_day_key_account_key_day; the month's a range of the day x currency
# rollup. A kind that is not wanted costs nothing: its WHERE starts with a false parameter.
STATE_SQL = """
SELECT 'credit', currency, granted - consumed, NULL::numeric, NULL, NULL, NULL::bigint,
       NULL::bigint, NULL::bigint
  FROM account_balances WHERE account_id = $1
UNION ALL
SELECT 'diem', NULL, consumed, NULL, NULL, NULL, NULL, NULL, NULL
  FROM diem_days WHERE account_id = $1 AND day = $2
UNION ALL
SELECT 'hold', currency, sum(amount), sum(amount) FILTER (WHERE api_key_id = $3), NULL, NULL,
       NULL, NULL, NULL
  FROM holds WHERE account_id = $1 AND settled_ms IS NULL AND expires_ms > $4 GROUP BY currency
UNION ALL
SELECT 'key', currency, -sum(amount), NULL, NULL, NULL, NULL, NULL, NULL
  FROM rollup_day_key WHERE $5 AND account_id = $1 AND api_key_id = $3 AND day_ms >= $6
   AND day_ms < $7 GROUP BY currency
UNION ALL
SELECT 'month', currency, -sum(amount), NULL, NULL, NULL, NULL, NULL, NULL
  FROM rollup_day_currency WHERE $8 AND account_id = $1 AND day_ms >= $9 AND day_ms < $10
 GROUP BY currency
UNION ALL
SELECT 'sku', sku, price_per_unit_usd, NULL, NULL, NULL, NULL, NULL, NULL
  FROM skus WHERE sku = ANY($11::varchar[])
UNION ALL
SELECT 'earlier', currency, amount, NULL, id, fingerprint, created_ms, expires_ms, settled_ms
  FROM holds WHERE api_key_id = $3 AND request_id = $12
"""
PRICES_SQL = "SELECT sku, price_per_unit_usd FROM skus WHERE sku = ANY($1::varchar[])"
INSERT_HOLD = (
    "INSERT INTO holds (id, account_id, api_key_id, currency, amount, created_ms, expires_ms, "
    "settled_ms, request_id, fingerprint) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
)
_LOWEST, _HIGHEST = -(2**63), 2**63 - 1
_UNAVAILABLE = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
                asyncpg.CannotConnectNowError, asyncpg.InternalClientError)


@asynccontextmanager
async def asyncpg_transaction(db: Database) -> AsyncIterator[AsyncpgAdmission]:
    """A transaction on a pooled connection's driver; committed when the block ends normally."""
    async with db.engine.connect() as conn:
        pooled = await conn.get_raw_connection()
        driver: asyncpg.Connection = pooled.driver_connection
        try:
            async with driver.transaction():
                yield AsyncpgAdmission(driver)
        except _UNAVAILABLE as exc:
            log.warning("database unavailable: %s", type(exc).__name__)
            pooled.invalidate(exc)  # the pool must not hand this connection out again
            raise StoreUnavailable("Database unavailable, try again shortly") from exc
        except asyncio.CancelledError as exc:  # cancelled mid-statement: discard, never reuse
            pooled.invalidate(exc)
            raise


class AsyncpgAdmission:
    def __init__(self, driver: asyncpg.Connection) -> None:
        self.driver = driver

    async def lock_key(
        self, *, key_id: str | None = None, secret_hash: str | None = None
    ) -> LockedKey | None:
        if key_id is not None:
            row = await self.driver.fetchrow(LOCK_BY_ID, key_id)
        else:
            row = await self.driver.fetchrow(LOCK_BY_HASH, secret_hash)
        if row is None:
            return None
        (key_id, account_id, key_type, revoked_ms, expires_ms, limit_usd, limit_diem, period,
         allocation, monthly_usd, monthly_diem) = tuple(row)
        return LockedKey(key_id, account_id, key_type, revoked_ms, expires_ms, limit_usd,
                         limit_diem, period, allocation, AccountLimits(monthly_usd, monthly_diem))

    async def read_state(self, q: StateQuery) -> AdmissionState:
        key_start, key_end = q.key_window or (None, None)
        month_start, month_end = q.month or (0, 0)
        rows = await self.driver.fetch(
            STATE_SQL, q.account_id, q.day, q.key_id, q.now_ms, q.key_window is not None,
            _LOWEST if key_start is None else key_start, _HIGHEST if key_end is None else key_end,
            q.month is not None, month_start or 0, month_end or 0, list(q.skus), q.request_id,
        )
        state = AdmissionState(holds=LiveHolds({}, {}))
        for row in rows:
            _add_row(state, q, tuple(row))
        return state

    async def prices(self, skus: Iterable[str]) -> dict[str, Decimal]:
        rows = await self.driver.fetch(PRICES_SQL, sorted(set(skus)))
        return {sku: price for sku, price in rows}

    async def insert_hold(self, hold: HoldRow) -> None:
        await self.driver.execute(
            INSERT_HOLD, hold.id, hold.account_id, hold.api_key_id, hold.currency, hold.amount,
            hold.created_ms, hold.expires_ms, hold.settled_ms, hold.request_id, hold.fingerprint,
        )


def _add_row(state: AdmissionState, q: StateQuery, row: tuple[Any, ...]) -> None:
    kind, name, amount, key_amount, ref, text, created, expires, settled = row
    if kind == "credit":
        state.credits[name] = amount
    elif kind == "diem":
        state.diem_used = amount
    elif kind == "hold":
        state.holds.account[name] = amount
        if key_amount is not None:
            state.holds.key[name] = key_amount
    elif kind == "key":
        state.key_spend[name] = amount
    elif kind == "month":
        state.month_spend[name] = amount
    elif kind == "sku":
        state.prices[name] = amount
    else:
        state.earlier = HoldRow(ref, q.account_id, q.key_id, name, amount, created, expires,
                                settled, q.request_id, text)

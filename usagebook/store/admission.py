"""What authorize reads: the key and its account under the account's lock, then everything the
decision needs, in as few statements as the backend allows.

`lock_key` is the first statement of every authorize transaction: it finds the key (by id or by
its secret's hash) and locks its account's row (PostgreSQL `FOR UPDATE OF accounts`; a SQLite
write transaction is already exclusive), the lock recording also takes before it charges.
`read_state` runs after the lock is granted: under READ COMMITTED each statement takes a new
snapshot, so it sees every hold and entry committed by the lock's previous holders, and nothing
it read can change until this transaction ends. (One statement cannot do both: its snapshot
would predate the wait for the lock.) On PostgreSQL `read_state` is one statement (a UNION ALL
of every figure: one round trip while the lock is held); SQLite runs the same reads one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store import balances as balance_store
from usagebook.store import holds as hold_store
from usagebook.store import skus as sku_store
from usagebook.store.holds import HoldRow, LiveHolds
from usagebook.store.limits import AccountLimits, spend_by_currency
from usagebook.store.tables import accounts, api_keys, rollup_day_key

ZERO = Decimal(0)
Span = tuple[int | None, int | None]  # [start, end) in epoch ms; None = open


@dataclass(frozen=True, slots=True)
class LockedKey:
    """A key and its account as they are once the account's lock is held."""

    key_id: str
    account_id: str
    revoked_ms: int | None
    expires_ms: int | None
    limit_usd: Decimal | None
    limit_diem: Decimal | None
    limit_period: str
    diem_allocation: Decimal | None
    monthly: AccountLimits


@dataclass(frozen=True, slots=True)
class StateQuery:
    account_id: str
    key_id: str
    now_ms: int
    day: int  # today's UTC day number (DIEM used today)
    key_window: Span | None  # the key's limit window, when it has a limit
    month: Span | None  # the current month, when the account has a monthly limit
    request_id: str | None
    skus: tuple[str, ...]


@dataclass
class AdmissionState:
    """Per currency: balances (USD, BUNDLED_CREDITS), DIEM used today, live holds, the key's
    spend in its window and the account's in the month (positive); the prices of the SKUs
    asked for; the hold already granted for the requestId."""

    credits: dict[str, Decimal] = field(default_factory=dict)
    diem_used: Decimal = ZERO
    holds: LiveHolds = field(default_factory=lambda: LiveHolds({}, {}))
    key_spend: dict[str, Decimal] = field(default_factory=dict)
    month_spend: dict[str, Decimal] = field(default_factory=dict)
    prices: dict[str, Decimal] = field(default_factory=dict)  # per unit, of the SKUs asked for
    earlier: HoldRow | None = None


async def lock_key(
    conn: AsyncConnection, *, key_id: str | None = None, secret_hash: str | None = None
) -> LockedKey | None:
    """Find the key (by id, or by its secret's hash) and lock its account; None when unknown."""
    a, k = accounts.c, api_keys.c
    query = (
        select(k.id, k.account_id, k.revoked_ms, k.expires_ms, k.consumption_limit_usd,
               k.consumption_limit_diem, k.limit_period, a.diem_allocation,
               a.monthly_limit_usd, a.monthly_limit_diem)
        .select_from(api_keys.join(accounts, a.id == k.account_id))
        .where(k.id == key_id if key_id is not None else k.secret_hash == secret_hash)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=accounts)
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return LockedKey(*row[:8], AccountLimits(row[8], row[9]))


async def read_state(conn: AsyncConnection, q: StateQuery) -> AdmissionState:
    if conn.dialect.name == "postgresql":
        return await _read_state_postgresql(conn, q)
    state = AdmissionState()
    credits = await balance_store.read_credits(conn, [q.account_id])
    state.credits = {currency: row.balance for (_, currency), row in credits.items()}
    used = await balance_store.read_diem_consumed(conn, [(q.account_id, q.day)])
    state.diem_used = used.get((q.account_id, q.day), ZERO)
    state.holds = await hold_store.live_holds(conn, q.account_id, q.key_id, q.now_ms)
    if q.key_window is not None:
        state.key_spend = await _key_spend(conn, q.account_id, q.key_id, q.key_window)
    if q.month is not None:
        start, end = q.month
        state.month_spend = await spend_by_currency(conn, q.account_id, start or 0, end or 0)
    skus = await sku_store.find_skus(conn, q.skus)
    state.prices = {name: row.price_per_unit_usd for name, row in skus.items()}
    if q.request_id is not None:
        state.earlier = await hold_store.find_by_request(conn, q.key_id, q.request_id)
    return state


async def _key_spend(
    conn: AsyncConnection, account_id: str, key_id: str, window: Span
) -> dict[str, Decimal]:
    r = rollup_day_key.c
    query = select(r.currency, r.amount).where(r.account_id == account_id,
                                               r.api_key_id == key_id)
    start, end = window
    if start is not None:
        query = query.where(r.day_ms >= start)
    if end is not None:
        query = query.where(r.day_ms < end)
    spend: dict[str, Decimal] = {}
    for currency, amount in await conn.execute(query):  # summed here: exact on SQLite too
        spend[currency] = spend.get(currency, ZERO) - amount
    return spend


# Every figure in one statement: (kind, name, amount, key_amount, then a hold's other fields).
# The holds range is the partial index ix_holds_account_live (unsettled, by expiry); the key's
# spend a range of ix_rollup_day_key_account_key_day; the month's a range of the day x currency
# rollup. A kind that is not wanted costs nothing: its WHERE starts with a false parameter.
_STATE = """
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
_LOWEST, _HIGHEST = -(2**63), 2**63 - 1


async def _read_state_postgresql(conn: AsyncConnection, q: StateQuery) -> AdmissionState:
    key_start, key_end = q.key_window or (None, None)
    month_start, month_end = q.month or (None, None)
    params = (
        q.account_id, q.day, q.key_id, q.now_ms,
        q.key_window is not None, _LOWEST if key_start is None else key_start,
        _HIGHEST if key_end is None else key_end,
        q.month is not None, month_start or 0, month_end or 0,
        list(q.skus), q.request_id,
    )
    state = AdmissionState(holds=LiveHolds({}, {}))
    rows = await conn.exec_driver_sql(_STATE, params)
    for row in rows:
        kind, name, amount, key_amount, ref, text, created, expires, settled = tuple(row)
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
    return state


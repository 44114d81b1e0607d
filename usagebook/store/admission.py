"""What authorize reads: the key and its account under the account's lock, then everything the
decision needs, in as few statements as the backend allows.

`lock_key` is the first statement of every authorize transaction: it finds the key (by id or by
its secret's hash) and locks its account's row (PostgreSQL `FOR UPDATE OF accounts`; a SQLite
write transaction is already exclusive), the lock recording also takes before it charges.
`read_state` runs after the lock is granted: under READ COMMITTED each statement takes a new
snapshot, so it sees every hold and entry committed by the lock's previous holders, and nothing
it read can change until this transaction ends. (One statement cannot do both: its snapshot
would predate the wait for the lock.) On PostgreSQL `read_state` is one statement (a UNION ALL
of every figure: one round trip while the lock is held, `store.admission_pg`); SQLite runs the
same reads one by one, here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store import balances as balance_store
from usagebook.store import holds as hold_store
from usagebook.store import skus as sku_store
from usagebook.store.admission_pg import asyncpg_transaction
from usagebook.store.admission_state import (
    AdmissionState,
    AdmissionTransaction,
    LockedKey,
    Span,
    StateQuery,
)
from usagebook.store.engine import Database
from usagebook.store.holds import HoldRow
from usagebook.store.limits import AccountLimits, spend_by_currency
from usagebook.store.tables.accounts import accounts, api_keys
from usagebook.store.tables.rollups import rollup_day_key

ZERO = Decimal(0)


@asynccontextmanager
async def transaction(db: Database) -> AsyncIterator[AdmissionTransaction]:
    """An authorize transaction: on PostgreSQL straight on the pooled connection's asyncpg
    driver (`store.admission_pg`: authorize runs once per inference call, and SQLAlchemy's
    layers cost several times the driver's CPU for these three statements); on SQLite through
    SQLAlchemy, in an exclusive write transaction."""
    if db.is_sqlite:
        async with db.write() as conn:
            yield CoreAdmission(conn)
        return
    async with asyncpg_transaction(db) as admission:
        yield admission


class CoreAdmission:
    """The transaction's statements through SQLAlchemy Core (SQLite)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def lock_key(
        self, *, key_id: str | None = None, secret_hash: str | None = None
    ) -> LockedKey | None:
        return await lock_key(self.conn, key_id=key_id, secret_hash=secret_hash)

    async def read_state(self, q: StateQuery) -> AdmissionState:
        return await read_state(self.conn, q)

    async def prices(self, skus: Iterable[str]) -> dict[str, Decimal]:
        found = await sku_store.find_skus(self.conn, skus)
        return {name: row.price_per_unit_usd for name, row in found.items()}

    async def insert_hold(self, hold: HoldRow) -> None:
        await hold_store.insert_hold(self.conn, hold)


async def lock_key(
    conn: AsyncConnection, *, key_id: str | None = None, secret_hash: str | None = None
) -> LockedKey | None:
    """Find the key (by id, or by its secret's hash) and lock its account; None when unknown."""
    a, k = accounts.c, api_keys.c
    query = (
        select(k.id, k.account_id, k.key_type, k.revoked_ms, k.expires_ms, k.consumption_limit_usd,
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
    return LockedKey(*row[:9], AccountLimits(row[9], row[10]))


async def read_state(conn: AsyncConnection, q: StateQuery) -> AdmissionState:
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

"""Balances: credit grants, what entries consumed per currency, DIEM consumed per UTC day.

Balances are a projection over entries. `project_balances` is the only writer of `consumed`,
called by `apply_projections` in the transaction that stores the entries, so for every account
and currency `granted - consumed` equals grants minus the exact sum of the entries' charges.
Rows are always updated in sorted key order, so concurrent batches cannot deadlock on them.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.money import from_nanos
from usagebook.store.rows import StoredEntry
from usagebook.store.tables.accounts import accounts
from usagebook.store.tables.balances import account_balances, credit_grants, diem_days
from usagebook.store.tables.entries import usage_entries as ue
from usagebook.timeutil import MS_PER_DAY

if TYPE_CHECKING:
    from usagebook.store.engine import Database

DIEM = "DIEM"
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class GrantRow:
    account_id: str
    currency: str
    amount: Decimal
    notes: str | None
    created_ms: int


@dataclass(frozen=True, slots=True)
class CreditRow:
    """Per account and currency: what operators granted and what entries consumed."""

    granted: Decimal
    consumed: Decimal

    @property
    def balance(self) -> Decimal:
        return self.granted - self.consumed


def _insert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


async def project_balances(conn: AsyncConnection, stored: Sequence[StoredEntry]) -> None:
    """Add the charges of just-stored entries to their currency's (or UTC day's) consumption."""
    by_currency: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    by_day: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for item in stored:
        entry = item.entry
        if entry.currency == DIEM:
            by_day[(entry.account_id, entry.ts_ms // MS_PER_DAY)] -= entry.amount
        else:
            by_currency[(entry.account_id, entry.currency)] -= entry.amount
    if by_currency:
        await add_totals(
            conn,
            account_balances,
            ("account_id", "currency"),
            [
                {"account_id": a, "currency": c, "granted": ZERO, "consumed": v}
                for (a, c), v in sorted(by_currency.items())
            ],
        )
    if by_day:
        await add_totals(
            conn,
            diem_days,
            ("account_id", "day"),
            [{"account_id": a, "day": d, "consumed": v} for (a, d), v in sorted(by_day.items())],
        )


async def add_totals(
    conn: AsyncConnection, table: Any, keys: tuple[str, ...], rows: list[dict[str, Any]]
) -> None:
    """Add the rows' figures to the stored totals (one upsert, rows in sorted key order).

    PostgreSQL adds in SQL (NUMERIC, atomic under the row lock). SQLite keeps totals as exact
    text, so they are read, added in Python and written back: safe because a SQLite write
    transaction excludes every other writer."""
    figures = [name for name in rows[0] if name not in keys]
    statement = _insert(conn)(table)
    if conn.dialect.name == "sqlite":
        current = await _totals(conn, table, keys, figures, rows)
        for row in rows:
            stored = current.get(tuple(row[k] for k in keys))
            if stored is not None:
                row.update({name: stored[i] + row[name] for i, name in enumerate(figures)})
        set_ = {name: statement.excluded[name] for name in figures}
    else:
        set_ = {name: table.c[name] + statement.excluded[name] for name in figures}
    await conn.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=set_), rows)


async def _totals(
    conn: AsyncConnection,
    table: Any,
    keys: tuple[str, ...],
    figures: list[str],
    rows: list[dict[str, Any]],
) -> dict[tuple[Any, ...], tuple[Decimal, ...]]:
    key_columns = [table.c[k] for k in keys]
    wanted = [tuple(row[k] for k in keys) for row in rows]
    result = await conn.execute(
        select(*key_columns, *(table.c[f] for f in figures)).where(tuple_(*key_columns).in_(wanted))
    )
    return {tuple(row[: len(keys)]): tuple(row[len(keys) :]) for row in result}


async def account_allocations(
    conn: AsyncConnection, account_ids: Iterable[str], *, lock: bool
) -> dict[str, Decimal | None]:
    """Each existing account's DIEM allocation; with `lock`, the accounts are locked (in id
    order) for the rest of the transaction. The account row is the balance lock: whoever charges
    or credits an account takes it first. SQLite needs no row lock: its write transactions are
    exclusive (BEGIN IMMEDIATE)."""
    wanted = sorted(set(account_ids))
    if not wanted:
        return {}
    query = select(accounts.c.id, accounts.c.diem_allocation).where(accounts.c.id.in_(wanted))
    query = query.order_by(accounts.c.id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {row.id: row.diem_allocation for row in await conn.execute(query)}


async def read_credits(
    conn: AsyncConnection, account_ids: Iterable[str]
) -> dict[tuple[str, str], CreditRow]:
    wanted = sorted(set(account_ids))
    if not wanted:
        return {}
    ab = account_balances.c
    rows = await conn.execute(
        select(ab.account_id, ab.currency, ab.granted, ab.consumed).where(ab.account_id.in_(wanted))
    )
    return {(r.account_id, r.currency): CreditRow(r.granted, r.consumed) for r in rows}


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """What a balance answer needs of one account, read in one statement."""

    diem_allocation: Decimal | None
    diem_consumed: Decimal  # on the day asked for
    credits: dict[str, CreditRow]


# The account, its DIEM row for the day and its balance rows, joined: one statement, one
# snapshot, every lookup by primary key.
_BALANCE = """SELECT a.diem_allocation, d.consumed, b.currency, b.granted, b.consumed
FROM accounts a
LEFT JOIN diem_days d ON d.account_id = a.id AND d.day = {day}
LEFT JOIN account_balances b ON b.account_id = a.id
WHERE a.id = {account}"""
_BALANCE_PG = _BALANCE.format(account="$1", day="$2")
_BALANCE_SQLITE = _BALANCE.format(account=":account", day=":day")


async def read_balance(db: Database, account_id: str, day: int) -> AccountBalance | None:
    """An account's allocation, DIEM consumed on UTC day `day` and credit rows; None for an
    unknown account. The hot path of GET /billing/balance: one prepared statement on
    PostgreSQL, one hand-off to a reader thread on SQLite."""
    if db.has_reader:
        rows = await db.call_reader(_sqlite_balance, account_id, day, small=True)
    elif db.is_sqlite:
        async with db.read() as conn:
            result = await conn.exec_driver_sql(_BALANCE_SQLITE, {"account": account_id,
                                                                  "day": day})
            rows = _from_sqlite([tuple(row) for row in result])
    else:
        rows = [tuple(row) for row in await db.fetch(_BALANCE_PG, account_id, day)]
    if not rows:
        return None
    credits = {row[2]: CreditRow(row[3], row[4]) for row in rows if row[2] is not None}
    return AccountBalance(rows[0][0], rows[0][1] if rows[0][1] is not None else ZERO, credits)


def _sqlite_balance(connection: sqlite3.Connection, account_id: str, day: int) -> list[Any]:
    found = connection.execute(_BALANCE_SQLITE, {"account": account_id, "day": day})
    return _from_sqlite(found.fetchall())


def _from_sqlite(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """SQLite keeps an allocation in nano-units and running totals as exact text."""
    return [(None if alloc is None else from_nanos(alloc), _exact(used), currency,
             _exact(granted), _exact(consumed))
            for alloc, used, currency, granted, consumed in rows]


def _exact(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


async def read_diem_consumed(
    conn: AsyncConnection, keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], Decimal]:
    """DIEM consumed per (account, UTC day number); days without usage are absent."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    dd = diem_days.c
    rows = await conn.execute(
        select(dd.account_id, dd.day, dd.consumed).where(tuple_(dd.account_id, dd.day).in_(wanted))
    )
    return {(r.account_id, r.day): r.consumed for r in rows}


async def add_grant(conn: AsyncConnection, grant: GrantRow) -> None:
    """Record a grant and add it to the account's granted total, in the caller's transaction."""
    await conn.execute(
        credit_grants.insert().values(
            account_id=grant.account_id,
            currency=grant.currency,
            amount=grant.amount,
            notes=grant.notes,
            created_ms=grant.created_ms,
        )
    )
    await add_totals(
        conn,
        account_balances,
        ("account_id", "currency"),
        [
            {
                "account_id": grant.account_id,
                "currency": grant.currency,
                "granted": grant.amount,
                "consumed": ZERO,
            }
        ],
    )


async def list_grants(conn: AsyncConnection, account_id: str) -> list[GrantRow]:
    """An account's grants, newest first."""
    cg = credit_grants.c
    rows = await conn.execute(
        select(cg.account_id, cg.currency, cg.amount, cg.notes, cg.created_ms)
        .where(cg.account_id == account_id)
        .order_by(cg.created_ms.desc(), cg.id.desc())
    )
    return [GrantRow(*row) for row in rows]


async def sum_grants(conn: AsyncConnection, account_id: str) -> dict[str, Decimal]:
    cg = credit_grants.c
    rows = await conn.execute(
        select(cg.currency, func.sum(cg.amount))
        .where(cg.account_id == account_id)
        .group_by(cg.currency)
    )
    return {currency: total for currency, total in rows}


async def sum_charges(conn: AsyncConnection, account_id: str) -> dict[str, Decimal]:
    """The exact sum of -amount per currency over the account's entries (for audits)."""
    rows = await conn.execute(
        select(ue.c.currency, func.sum(-ue.c.amount))
        .where(ue.c.account_id == account_id)
        .group_by(ue.c.currency)
    )
    return {currency: total for currency, total in rows}


async def sum_diem_by_day(conn: AsyncConnection, account_id: str) -> dict[int, Decimal]:
    """The exact DIEM charged per UTC day number over the account's entries (for audits)."""
    day = ue.c.ts_ms // MS_PER_DAY
    rows = await conn.execute(
        select(day, func.sum(-ue.c.amount))
        .where(ue.c.account_id == account_id, ue.c.currency == DIEM)
        .group_by(day)
    )
    return {int(d): total for d, total in rows}


async def diem_days_of(conn: AsyncConnection, account_id: str) -> dict[int, Decimal]:
    rows = await conn.execute(
        select(diem_days.c.day, diem_days.c.consumed).where(diem_days.c.account_id == account_id)
    )
    return {day: consumed for day, consumed in rows}

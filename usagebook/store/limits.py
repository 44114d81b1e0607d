"""Account-level monthly limits, an account's spend per month, and its overspend."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.balances import add_totals
from usagebook.store.tables.accounts import accounts
from usagebook.store.tables.admission import overspend_months
from usagebook.store.tables.rollups import rollup_day_currency

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class AccountLimits:
    """Spend allowed per UTC calendar month by limit class; None = no limit."""

    usd: Decimal | None = None
    diem: Decimal | None = None


async def read_limits(conn: AsyncConnection, account_id: str) -> AccountLimits | None:
    query = select(accounts.c.monthly_limit_usd, accounts.c.monthly_limit_diem)
    row = (await conn.execute(query.where(accounts.c.id == account_id))).first()
    return AccountLimits(row[0], row[1]) if row else None


async def set_limits(conn: AsyncConnection, account_id: str, limits: AccountLimits) -> bool:
    """Replace the account's monthly limits; False when there is no such account."""
    result = await conn.execute(
        accounts.update().where(accounts.c.id == account_id)
        .values(monthly_limit_usd=limits.usd, monthly_limit_diem=limits.diem)
    )
    return bool(result.rowcount)


async def spend_by_currency(
    conn: AsyncConnection, account_id: str, start_ms: int, end_ms: int
) -> dict[str, Decimal]:
    """The account's spend (positive) per currency over the UTC days in [start_ms, end_ms),
    summed exactly from the day x currency rollup (at most 31 days x 3 currencies of rows)."""
    r = rollup_day_currency.c
    rows = await conn.execute(
        select(r.currency, func.sum(r.amount))
        .where(r.account_id == account_id, r.day_ms >= start_ms, r.day_ms < end_ms)
        .group_by(r.currency)
    )
    return {currency: -total for currency, total in rows}


async def add_overspend(
    conn: AsyncConnection, account_id: str, month_ms: int, usd: Decimal, diem: Decimal
) -> None:
    """Add to the account's overspend of the month, in the caller's transaction."""
    row = {"account_id": account_id, "month_ms": month_ms, "usd": usd, "diem": diem}
    await add_totals(conn, overspend_months, ("account_id", "month_ms"), [row])


async def read_overspend(
    conn: AsyncConnection, account_id: str, month_ms: int
) -> tuple[Decimal, Decimal]:
    """The account's overspend (usd, diem) in the month starting at `month_ms`."""
    o = overspend_months.c
    row = (await conn.execute(
        select(o.usd, o.diem).where(o.account_id == account_id, o.month_ms == month_ms)
    )).first()
    return (row[0], row[1]) if row else (ZERO, ZERO)

"""Queries on accounts."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.tables.accounts import accounts


async def insert_account(
    conn: AsyncConnection, account_id: str, name: str, created_ms: int
) -> None:
    await conn.execute(accounts.insert().values(id=account_id, name=name, created_ms=created_ms))


async def account_exists(conn: AsyncConnection, account_id: str) -> bool:
    row = await conn.execute(select(accounts.c.id).where(accounts.c.id == account_id))
    return row.first() is not None


async def set_diem_allocation(
    conn: AsyncConnection, account_id: str, allocation: Decimal | None
) -> bool:
    result = await conn.execute(
        accounts.update().where(accounts.c.id == account_id).values(diem_allocation=allocation)
    )
    return bool(result.rowcount)

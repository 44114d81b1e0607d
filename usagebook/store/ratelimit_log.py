"""The log of rate-limit refusals: the newest KEEP per account, older ones deleted as new ones
arrive."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.engine import Database
from usagebook.store.tables.accounts import rate_limit_log as log

KEEP = 50


@dataclass(frozen=True)
class Refusal:
    api_key_id: str
    model_id: str
    rate_limit_tier: str
    rate_limit_type: str
    ts_ms: int


async def add_refusal(conn: AsyncConnection, account_id: str, refusal: Refusal) -> None:
    """Log one refusal and drop the account's refusals older than the newest KEEP."""
    await conn.execute(log.insert().values(account_id=account_id, **refusal.__dict__))
    oldest_kept = (
        select(log.c.id).where(log.c.account_id == account_id)
        .order_by(log.c.id.desc()).offset(KEEP - 1).limit(1).scalar_subquery()
    )
    await conn.execute(delete(log).where(log.c.account_id == account_id, log.c.id < oldest_kept))


async def try_log_refusal(db: Database, account_id: str, refusal: Refusal) -> str | None:
    """`add_refusal` in a transaction of its own; the error's kind when the database failed
    (logging a refusal is best effort), else None."""
    try:
        async with db.write() as conn:
            await add_refusal(conn, account_id, refusal)
    except (SQLAlchemyError, OSError) as exc:
        return type(exc).__name__
    return None


async def newest_refusals(conn: AsyncConnection, account_id: str) -> list[Refusal]:
    """The account's newest KEEP refusals, newest first."""
    result = await conn.execute(
        select(log.c.api_key_id, log.c.model_id, log.c.rate_limit_tier, log.c.rate_limit_type,
               log.c.ts_ms)
        .where(log.c.account_id == account_id).order_by(log.c.id.desc()).limit(KEEP)
    )
    return [Refusal(*row) for row in result]

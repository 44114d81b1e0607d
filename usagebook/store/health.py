"""The database's own liveness query, kept here so no SQL text lives outside the store."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def ping(conn: AsyncConnection) -> None:
    """Raises the driver's error when the database cannot answer."""
    await conn.execute(text("SELECT 1"))

"""Queries on API keys. Keys are found by the SHA-256 hash of their secret, never the secret."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.tables import api_keys


@dataclass(frozen=True)
class KeyRow:
    id: str
    account_id: str
    key_type: str
    description: str
    created_ms: int
    revoked_ms: int | None
    expires_ms: int | None


_COLUMNS = (
    api_keys.c.id,
    api_keys.c.account_id,
    api_keys.c.key_type,
    api_keys.c.description,
    api_keys.c.created_ms,
    api_keys.c.revoked_ms,
    api_keys.c.expires_ms,
)


async def insert_key(conn: AsyncConnection, row: KeyRow, secret_hash: str) -> None:
    await conn.execute(
        api_keys.insert().values(
            id=row.id,
            account_id=row.account_id,
            key_type=row.key_type,
            description=row.description,
            secret_hash=secret_hash,
            created_ms=row.created_ms,
            revoked_ms=row.revoked_ms,
            expires_ms=row.expires_ms,
        )
    )


async def find_by_hash(conn: AsyncConnection, secret_hash: str) -> KeyRow | None:
    result = await conn.execute(select(*_COLUMNS).where(api_keys.c.secret_hash == secret_hash))
    row = result.first()
    return KeyRow(*row) if row else None


async def find_by_id(conn: AsyncConnection, key_id: str) -> KeyRow | None:
    result = await conn.execute(select(*_COLUMNS).where(api_keys.c.id == key_id))
    row = result.first()
    return KeyRow(*row) if row else None


async def list_for_account(conn: AsyncConnection, account_id: str) -> list[KeyRow]:
    result = await conn.execute(
        select(*_COLUMNS)
        .where(api_keys.c.account_id == account_id)
        .order_by(api_keys.c.created_ms, api_keys.c.id)
    )
    return [KeyRow(*row) for row in result]


async def revoke(conn: AsyncConnection, key_id: str, revoked_ms: int) -> bool:
    """Mark a key revoked; True when the key exists (revoking twice keeps the first time)."""
    result = await conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.revoked_ms.is_(None))
        .values(revoked_ms=revoked_ms)
    )
    if result.rowcount:
        return True
    return await find_by_id(conn, key_id) is not None

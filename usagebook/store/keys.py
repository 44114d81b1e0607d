"""Queries on API keys. Keys are found by the SHA-256 hash of their secret, never the secret."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.rows import KeyRow
from usagebook.store.tables.accounts import accounts, api_keys

if TYPE_CHECKING:
    from usagebook.store.engine import Database


# KeyRow field -> column; the order of KeyRow's fields (rows are built positionally).
_COLUMN_OF = {
    "id": api_keys.c.id,
    "account_id": api_keys.c.account_id,
    "key_type": api_keys.c.key_type,
    "description": api_keys.c.description,
    "created_ms": api_keys.c.created_ms,
    "revoked_ms": api_keys.c.revoked_ms,
    "expires_ms": api_keys.c.expires_ms,
    "limit_usd": api_keys.c.consumption_limit_usd,
    "limit_diem": api_keys.c.consumption_limit_diem,
    "limit_vcu": api_keys.c.consumption_limit_vcu,
    "limit_period": api_keys.c.limit_period,
    "model_privacy": api_keys.c.model_privacy,
    "last_used_ms": api_keys.c.last_used_ms,
    "last6": api_keys.c.secret_last6,
}
assert list(_COLUMN_OF) == [f.name for f in fields(KeyRow)]
_COLUMNS = tuple(_COLUMN_OF.values())


def _values(changes: dict[str, Any]) -> dict[str, Any]:
    """KeyRow field names -> column names (the only place that knows both)."""
    return {_COLUMN_OF[name].name: value for name, value in changes.items()}


async def insert_key(conn: AsyncConnection, row: KeyRow, secret_hash: str) -> None:
    values = _values({f.name: getattr(row, f.name) for f in fields(KeyRow)})
    await conn.execute(api_keys.insert().values(secret_hash=secret_hash, **values))


async def find_by_hash(conn: AsyncConnection, secret_hash: str) -> KeyRow | None:
    result = await conn.execute(select(*_COLUMNS).where(api_keys.c.secret_hash == secret_hash))
    row = result.first()
    return KeyRow(*row) if row else None


_BY_HASH = (f"SELECT {', '.join(column.name for column in _COLUMNS)} "
            "FROM api_keys WHERE secret_hash = {}")
_BY_HASH_PG, _BY_HASH_SQLITE = _BY_HASH.format("$1"), _BY_HASH.format("?")


async def fetch_by_hash(db: Database, secret_hash: str) -> KeyRow | None:
    """`find_by_hash` on the hot path: one prepared statement on PostgreSQL, one hand-off to a
    reader thread on SQLite, and nothing else (no transaction around the lone SELECT)."""
    if db.has_reader:
        stored = await db.call_reader(_sqlite_by_hash, secret_hash, small=True)
        found = _from_sqlite(stored, db) if stored else None
    elif db.is_sqlite:
        async with db.read() as conn:
            return await find_by_hash(conn, secret_hash)
    else:
        rows = await db.fetch(_BY_HASH_PG, secret_hash)
        found = tuple(rows[0]) if rows else None
    return KeyRow(*found) if found else None


def _sqlite_by_hash(connection: sqlite3.Connection, secret_hash: str) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = connection.execute(_BY_HASH_SQLITE, (secret_hash,)).fetchone()
    return row


def _from_sqlite(row: tuple[Any, ...], db: Database) -> tuple[Any, ...]:
    """Stored values as the columns' types give them (limits are nano-units on SQLite)."""
    dialect = db.engine.dialect
    processors = [column.type.result_processor(dialect, None) for column in _COLUMNS]
    return tuple(value if process is None or value is None else process(value)
                 for process, value in zip(processors, row, strict=True))


async def find_by_id(
    conn: AsyncConnection, key_id: str, account_id: str | None = None
) -> KeyRow | None:
    """The key, or None when it does not exist (or belongs to another account than
    `account_id`, when given)."""
    query = select(*_COLUMNS).where(api_keys.c.id == key_id)
    if account_id is not None:
        query = query.where(api_keys.c.account_id == account_id)
    row = (await conn.execute(query)).first()
    return KeyRow(*row) if row else None


async def list_for_account(
    conn: AsyncConnection, account_id: str, active_at_ms: int | None = None
) -> list[KeyRow]:
    """An account's keys, oldest first; only those active at `active_at_ms` when given."""
    query = select(*_COLUMNS).where(api_keys.c.account_id == account_id)
    if active_at_ms is not None:
        query = query.where(*_active(active_at_ms))
    result = await conn.execute(query.order_by(api_keys.c.created_ms, api_keys.c.id))
    return [KeyRow(*row) for row in result]


async def count_active(conn: AsyncConnection, account_id: str, at_ms: int) -> int:
    query = select(func.count()).select_from(api_keys).where(
        api_keys.c.account_id == account_id, *_active(at_ms)
    )
    return int((await conn.execute(query)).scalar_one())


def _active(at_ms: int) -> tuple[Any, ...]:
    return (
        api_keys.c.revoked_ms.is_(None),
        or_(api_keys.c.expires_ms.is_(None), api_keys.c.expires_ms > at_ms),
    )


async def lock_account(conn: AsyncConnection, account_id: str) -> bool:
    """Lock the account's row until the transaction ends (PostgreSQL; a SQLite write transaction
    is already exclusive), so that count-then-insert rules hold under concurrency. False when the
    account does not exist."""
    query = select(accounts.c.id).where(accounts.c.id == account_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).first() is not None


async def update_key(
    conn: AsyncConnection, key_id: str, account_id: str, changes: dict[str, Any]
) -> KeyRow | None:
    """Apply `changes` (KeyRow field -> value) to a non-revoked key of the account; the key as
    it is afterwards, or None when there is no such key."""
    where = (api_keys.c.id == key_id, api_keys.c.account_id == account_id,
             api_keys.c.revoked_ms.is_(None))
    if changes:
        result = await conn.execute(update(api_keys).where(*where).values(**_values(changes)))
        if not result.rowcount:
            return None
    row = (await conn.execute(select(*_COLUMNS).where(*where))).first()
    return KeyRow(*row) if row else None


async def revoke(
    conn: AsyncConnection, key_id: str, revoked_ms: int, account_id: str | None = None
) -> bool:
    """Mark a key revoked; True when the key exists (in `account_id`, when given). Revoking
    twice keeps the first time."""
    where = [api_keys.c.id == key_id]
    if account_id is not None:
        where.append(api_keys.c.account_id == account_id)
    result = await conn.execute(
        api_keys.update().where(*where, api_keys.c.revoked_ms.is_(None))
        .values(revoked_ms=revoked_ms)
    )
    if result.rowcount:
        return True
    return await find_by_id(conn, key_id, account_id) is not None


async def key_accounts(conn: AsyncConnection, key_ids: Iterable[str]) -> dict[str, str]:
    """The account of each existing key id, revoked and expired keys included."""
    wanted = sorted(set(key_ids))
    if not wanted:
        return {}
    rows = await conn.execute(
        select(api_keys.c.id, api_keys.c.account_id).where(api_keys.c.id.in_(wanted))
    )
    return {key_id: account_id for key_id, account_id in rows}

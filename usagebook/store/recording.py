"""The lookups recording needs for a whole batch at once: keys' accounts and stored originals;
and what a total that no longer fits its column looks like from each database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import orjson
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.entries import ENTRY_COLUMNS
from usagebook.store.rows import EntryRow
from usagebook.store.tables import api_keys
from usagebook.store.tables import usage_entries as ue

EntryKey = tuple[str, str, str]  # (account id, request id, sku): unique in the ledger
_NUMERIC_OUT_OF_RANGE = "22003"


class TotalOverflow(Exception):
    """A balance or rollup total would pass what its column holds; the transaction is lost."""


@asynccontextmanager
async def overflow_as_total_overflow() -> AsyncIterator[None]:
    """Turns the databases' ways of saying "this total does not fit" into TotalOverflow:
    SQLite's 64-bit nano-unit integers turn into floats past 2**63, which the `integer_nanos`
    CHECK constraints refuse (or the driver cannot bind a sum computed past it); PostgreSQL's
    NUMERIC raises SQLSTATE 22003."""
    try:
        yield
    except (StatementError, OverflowError) as exc:
        cause = getattr(exc, "orig", exc)
        code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if (isinstance(cause, OverflowError) or code == _NUMERIC_OUT_OF_RANGE
                or "integer_nanos" in str(cause)):
            raise TotalOverflow from exc
        raise


async def key_accounts(conn: AsyncConnection, key_ids: Iterable[str]) -> dict[str, str]:
    """The account of each existing key id, revoked and expired keys included."""
    wanted = sorted(set(key_ids))
    if not wanted:
        return {}
    rows = await conn.execute(
        select(api_keys.c.id, api_keys.c.account_id).where(api_keys.c.id.in_(wanted))
    )
    return {key_id: account_id for key_id, account_id in rows}


async def find_stored(conn: AsyncConnection, keys: Iterable[EntryKey]) -> dict[EntryKey, EntryRow]:
    """The stored entries among `keys`, found through the unique (account, request, sku) key."""
    wanted = set(keys)
    if not wanted:
        return {}
    if conn.dialect.name == "postgresql":
        return await _find_stored_postgresql(conn, wanted)
    found: dict[EntryKey, EntryRow] = {}
    by_account: dict[str, set[str]] = {}
    for account_id, request_id, _sku in wanted:
        by_account.setdefault(account_id, set()).add(request_id)
    for account_id, request_ids in sorted(by_account.items()):
        rows = await conn.execute(
            select(*ENTRY_COLUMNS).where(
                ue.c.account_id == account_id, ue.c.request_id.in_(sorted(request_ids))
            )
        )
        for row in rows:
            entry = EntryRow(*tuple(row))
            key = (account_id, entry.request_id, entry.sku)
            if key in wanted:
                found[key] = entry
    return found


# One probe of the idempotency keys' primary key per key, whatever the planner believes about
# the account: LATERAL cannot be turned into a join. With `request_id = ANY(...)` and statistics
# from when a growing account was small, PostgreSQL chose to read every entry of the account and
# filter them (183,000 rows for a batch of 1000 in the bench). The key names the entry's id and
# ts_ms, so the entry is one primary-key probe in its month's partition (store.partitions).
# The keys travel as one JSON text of [requestId, sku] pairs: asyncpg encodes two text arrays
# element by element in Python, five times the client CPU.
_KEYS = (
    "FROM json_array_elements($1::json) AS k(pair) "
    "CROSS JOIN LATERAL (SELECT entry_id, ts_ms FROM usage_request_keys WHERE account_id = $2 "
    "AND request_id = k.pair->>0 AND sku = k.pair->>1) AS r "
)
_FIND_STORED = (
    "SELECT e.* " + _KEYS + "CROSS JOIN LATERAL (SELECT {columns} FROM usage_entries "
    "WHERE account_id = $2 AND ts_ms = r.ts_ms AND id = r.entry_id) AS e"
).format(columns=", ".join(column.name for column in ENTRY_COLUMNS))
# Keys whose entry is no longer stored: archived with its month (`usagebook partitions`).
_FIND_ARCHIVED = (
    "SELECT k.pair->>0, k.pair->>1, r.entry_id, r.ts_ms " + _KEYS + "WHERE NOT EXISTS "
    "(SELECT 1 FROM usage_entries WHERE account_id = $2 AND ts_ms = r.ts_ms AND id = r.entry_id)"
)


async def _find_stored_postgresql(
    conn: AsyncConnection, wanted: set[EntryKey]
) -> dict[EntryKey, EntryRow]:
    by_account: dict[str, list[tuple[str, str]]] = {}
    for account_id, request_id, sku in wanted:
        by_account.setdefault(account_id, []).append((request_id, sku))
    found: dict[EntryKey, EntryRow] = {}
    for account_id, keys in sorted(by_account.items()):
        pairs = orjson.dumps(keys).decode()
        rows = await conn.exec_driver_sql(_FIND_STORED, (pairs, account_id))
        for row in rows:
            entry = EntryRow(*tuple(row))
            found[(account_id, entry.request_id, entry.sku)] = entry
    return found


async def find_archived(
    conn: AsyncConnection, keys: Iterable[EntryKey]
) -> dict[EntryKey, tuple[int, int]]:
    """The (id, ts_ms) of each of `keys` whose entry was stored once and has since been
    archived (PostgreSQL; SQLite archives nothing)."""
    wanted = set(keys)
    if not wanted or conn.dialect.name != "postgresql":
        return {}
    by_account: dict[str, list[tuple[str, str]]] = {}
    for account_id, request_id, sku in wanted:
        by_account.setdefault(account_id, []).append((request_id, sku))
    found: dict[EntryKey, tuple[int, int]] = {}
    for account_id, pairs in sorted(by_account.items()):
        rows = await conn.exec_driver_sql(_FIND_ARCHIVED, (orjson.dumps(pairs).decode(),
                                                           account_id))
        for row in rows:
            request_id, sku, entry_id, ts_ms = tuple(row)
            found[(account_id, request_id, sku)] = (entry_id, ts_ms)
    return found

"""Usage entries: the ledger's queries on them (they are written by `store.write` only)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Boolean, ColumnElement, Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from usagebook.store.rows import EntryKey, EntryRow
from usagebook.store.tables.entries import usage_entries as ue


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Which of an account's entries a query covers. Bounds are inclusive epoch ms."""

    account_id: str
    currencies: tuple[str, ...] | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    # (key, value) pairs every entry's tags must hold (usage-history's `tag.<key>=<value>`).
    tags: tuple[tuple[str, str], ...] = ()
    # One API key's entries, and entries of these SKUs only (a model's SKUs).
    api_key_id: str | None = None
    skus: tuple[str, ...] | None = None

    @property
    def by_time_alone(self) -> bool:
        """Whether the count buckets (per account, currency and hour) can count it: no filter
        on what they do not record (tags, key, SKU)."""
        return not self.tags and self.api_key_id is None and self.skus is None


class _Contains(FunctionElement[bool]):
    """`needle` occurs in `text` (case-sensitive on both backends, unlike SQLite's LIKE)."""

    type = Boolean()
    inherit_cache = True
    name = "contains_text"


@compiles(_Contains)
def _contains_postgresql(element: _Contains, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)}) > 0"


@compiles(_Contains, "sqlite")
def _contains_sqlite(element: _Contains, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)}) > 0"


def has_tag(key: str, value: str) -> ColumnElement[bool]:
    """The entry's tags hold `key` with exactly `value`. Tags are canonical JSON whose allowed
    characters are never escaped, so the pair is the text `"key":"value"`; a value cannot hold
    a quote, so `"key":` can only be a key and `"value"` only that whole value."""
    return _Contains(ue.c.tags, f'"{key}":"{value}"')


ENTRY_COLUMNS = (
    ue.c.id,
    ue.c.ts_ms,
    ue.c.sku,
    ue.c.price_per_unit_usd,
    ue.c.units,
    ue.c.amount,
    ue.c.currency,
    ue.c.notes,
    ue.c.request_id,
    ue.c.execution_ms,
    ue.c.prompt_tokens,
    ue.c.completion_tokens,
    ue.c.api_key_id,
    ue.c.tags,
)

def _filtered(query: Select[Any], where: EntryFilter) -> Select[Any]:
    query = query.where(ue.c.account_id == where.account_id)
    if where.currencies is not None:
        query = query.where(ue.c.currency.in_(where.currencies))
    if where.start_ms is not None:
        query = query.where(ue.c.ts_ms >= where.start_ms)
    if where.end_ms is not None:
        query = query.where(ue.c.ts_ms <= where.end_ms)
    for key, value in where.tags:
        query = query.where(has_tag(key, value))
    if where.api_key_id is not None:
        query = query.where(ue.c.api_key_id == where.api_key_id)
    if where.skus is not None:
        query = query.where(ue.c.sku.in_(where.skus))
    return query


def count_query(where: EntryFilter) -> Select[Any]:
    """SELECT count(*) of the entries matching `where` (to run, or to nest)."""
    return _filtered(select(func.count()).select_from(ue), where)


async def count_entries(conn: AsyncConnection, where: EntryFilter) -> int:
    result = await conn.execute(count_query(where))
    return int(result.scalar_one())


async def list_entries_page(
    conn: AsyncConnection, where: EntryFilter, *, descending: bool, limit: int, offset: int
) -> list[EntryRow]:
    """One page of entries in ledger order (ts_ms, id), or its exact reverse."""
    order = (ue.c.ts_ms.desc(), ue.c.id.desc()) if descending else (ue.c.ts_ms, ue.c.id)
    query = _filtered(select(*ENTRY_COLUMNS), where).order_by(*order).limit(limit).offset(offset)
    result = await conn.execute(query)
    return [EntryRow(*row) for row in result]


async def max_entry_id(conn: AsyncConnection) -> int:
    """The highest entry id this statement can see (0 when there is none): every entry
    committed before it has an id at or below it."""
    result = await conn.execute(select(func.max(ue.c.id)))
    return int(result.scalar_one() or 0)


async def list_entries_after(
    conn: AsyncConnection, where: EntryFilter, *, after: tuple[int, int] | None,
    max_id: int, limit: int,
) -> list[EntryRow]:
    """Up to `limit` entries strictly after the position `after` = (ts_ms, id) in ledger order,
    ignoring entries with an id above `max_id`: a keyset page, as cheap at any depth."""
    query = _filtered(select(*ENTRY_COLUMNS), where).where(ue.c.id <= max_id)
    if after is not None:
        query = query.where(tuple_(ue.c.ts_ms, ue.c.id) > tuple_(*after))
    result = await conn.execute(query.order_by(ue.c.ts_ms, ue.c.id).limit(limit))
    return [EntryRow(*row) for row in result]


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
# filter them. The key names the entry's id and ts_ms, so the entry is one primary-key probe in
# its month's partition (store.partitions). The keys travel as one JSON text of [request_id, sku]
# pairs: asyncpg would encode two text arrays element by element in Python.
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

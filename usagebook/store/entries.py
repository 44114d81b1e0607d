"""Usage entries: the one write path every producer shares, and the ledger's read queries.

`insert_entries` is the only way an entry reaches the store: recording, import, the demo and the
benchmarks all call it, so whatever must change with an entry (balances, counters, rollups)
changes here, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Select, func, select, tuple_
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from usagebook.store.pg_write import UNIQUE_ENTRY, write_batch
from usagebook.store.projections import apply_projections
from usagebook.store.rows import EntryRow, NewEntry, StoredEntry
from usagebook.store.tables import usage_entries as ue


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Which of an account's entries a query covers. Bounds are inclusive epoch ms."""

    account_id: str
    currencies: tuple[str, ...] | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    # (key, value) pairs every entry's tags must hold (usage-history's `tag.<key>=<value>`).
    tags: tuple[tuple[str, str], ...] = ()
    # One API key's entries (`apiKeyId`), and entries of these SKUs only (a model's, `modelId`).
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

_FIELDS = NewEntry.__slots__


class AlreadyStored(Exception):
    """An insert that assumed its entries new met one already stored; the transaction is lost
    and must be run again without the assumption."""


async def insert_entries(
    conn: AsyncConnection, entries: Sequence[NewEntry], *, assume_new: bool = False
) -> list[int | None]:
    """Store entries idempotently and update every projection, in the caller's transaction;
    returns each entry's new id, or None where an entry with the same (account, request id,
    sku) was already stored (the database's unique constraint decides, so concurrent writers
    cannot both insert one).

    `assume_new`: the caller expects none of them to be stored, so PostgreSQL may use a plain
    INSERT; if one is stored after all, AlreadyStored is raised (on both backends) and the
    caller's transaction must not be committed.
    """
    if not entries:
        return []
    if conn.dialect.name == "postgresql":
        # One statement: the insert and every projection (store.pg_write).
        try:
            rows = await write_batch(conn, entries, idempotent=not assume_new)
        except IntegrityError as exc:
            if assume_new and UNIQUE_ENTRY in str(exc.orig):
                raise AlreadyStored from exc
            raise
    else:
        statement = (
            sqlite.insert(ue)
            .on_conflict_do_nothing(index_elements=["account_id", "request_id", "sku"])
            .returning(ue.c.id, ue.c.account_id, ue.c.request_id, ue.c.sku)
        )
        params = [{name: getattr(entry, name) for name in _FIELDS} for entry in entries]
        rows = [tuple(row) for row in await conn.execute(statement, params)]
    inserted = {(account_id, request_id, sku): id_ for id_, account_id, request_id, sku in rows}
    ids = [inserted.pop((e.account_id, e.request_id, e.sku), None) for e in entries]
    if assume_new and None in ids:
        raise AlreadyStored  # SQLite skipped it (ON CONFLICT): the same answer as PostgreSQL's
    if conn.dialect.name != "postgresql":
        stored = [StoredEntry(id_, entry) for id_, entry in zip(ids, entries, strict=True) if id_]
        await apply_projections(conn, stored)
    return ids


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

"""Streaming an account's entries in ledger order (ts_ms, id), for the CLI export.

Both ways read keyset batches (`(ts_ms, id) > last key`, `LIMIT n`), so memory stays bounded by
one batch whatever the account's size, and each batch is an index range scan at any depth:

- `entry_batches` yields `EntryRow` lists (any backend), for formatting in Python;
- `copy_csv_batches` (PostgreSQL) formats the contract's CSV cells in SQL and streams them out of
  `COPY ... TO STDOUT`, so no Python object is built per row. `tests/export` proves that its
  bytes equal `usagebook.csvformat`'s for the same entries.

Run either inside `snapshot(db)`, so every batch reads the same committed state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.engine import Database
from usagebook.store.entries import ENTRY_COLUMNS, EntryFilter, EntryRow, _filtered
from usagebook.store.tables import usage_entries as ue


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in ledger order: the key of the last entry already read."""

    ts_ms: int
    id: int


@dataclass(frozen=True, slots=True)
class CsvBatch:
    """COPY output for the entries after the previous batch up to and including `last`."""

    chunks: list[bytes]
    rows: int
    last: Position


@asynccontextmanager
async def snapshot(db: Database) -> AsyncIterator[AsyncConnection]:
    """A read-only transaction whose reads all see one state: REPEATABLE READ on PostgreSQL;
    on SQLite (WAL) a read transaction keeps the snapshot of its first read until it ends."""
    async with db.engine.connect() as conn:
        if not db.is_sqlite:
            conn = await conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        async with conn.begin():
            yield conn


def _after(query: Select[Any], after: Position | None) -> Select[Any]:
    if after is None:
        return query
    return query.where(tuple_(ue.c.ts_ms, ue.c.id) > tuple_(after.ts_ms, after.id))


async def count_after(conn: AsyncConnection, where: EntryFilter, after: Position | None) -> int:
    result = await conn.execute(_after(_filtered(select(func.count()).select_from(ue), where),
                                       after))
    return int(result.scalar_one())


async def entry_batches(
    conn: AsyncConnection, where: EntryFilter, after: Position | None, size: int
) -> AsyncIterator[list[EntryRow]]:
    """Every matching entry after `after`, ascending, `size` at a time."""
    while True:
        query = _after(_filtered(select(*ENTRY_COLUMNS), where), after)
        result = await conn.execute(query.order_by(ue.c.ts_ms, ue.c.id).limit(size))
        rows = [EntryRow(*row) for row in result]
        if not rows:
            return
        yield rows
        after = Position(rows[-1].ts_ms, rows[-1].id)


async def copy_csv_batches(
    conn: AsyncConnection, where: EntryFilter, after: Position | None, size: int
) -> AsyncIterator[CsvBatch]:
    """PostgreSQL only: the CSV rows (no header) of every matching entry after `after`.

    Each batch first finds its last key (an index-only scan: the `size`-th key after the
    previous batch, or the very last key), then COPYs exactly the key range up to it, so a
    caller always knows which entry its output ends on.
    """
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    while (last := await _next_bound(conn, where, after, size)) is not None:
        chunks: list[bytes] = []
        status = await driver.copy_from_query(_select_sql(where, after, last),
                                              output=_collect(chunks), format="csv")
        yield CsvBatch(chunks, int(status.split()[-1]), last)  # status: "COPY <rows>"
        after = last


def _collect(chunks: list[bytes]) -> Callable[[bytes], Awaitable[None]]:
    async def keep(data: bytes) -> None:
        chunks.append(data)

    return keep


async def _next_bound(
    conn: AsyncConnection, where: EntryFilter, after: Position | None, size: int
) -> Position | None:
    keys = _after(_filtered(select(ue.c.ts_ms, ue.c.id), where), after)
    nth = keys.order_by(ue.c.ts_ms, ue.c.id).offset(size - 1).limit(1)
    row = (await conn.execute(nth)).first()
    if row is None:  # fewer than `size` left: the batch ends on the very last key
        row = (await conn.execute(keys.order_by(ue.c.ts_ms.desc(), ue.c.id.desc()).limit(1))
               ).first()
    return None if row is None else Position(row[0], row[1])


# The contract's cells, in SQL. COPY's CSV format already quotes exactly as the contract does
# (a value holding the delimiter, a quote, CR or LF is quoted, quotes doubled) and writes NULL as
# an unquoted empty cell; it would quote an empty string, so empty text becomes NULL.
_TIMESTAMP = ("to_char(TIMESTAMP 'epoch' + ts_ms * INTERVAL '1 millisecond', "
              "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")


def _text(column: str) -> str:
    # ascii() of the first character: = + - @ TAB CR (cheaper than comparing substrings).
    formula = f"ascii({column}) IN (61, 43, 45, 64, 9, 13)"
    return f"NULLIF(CASE WHEN {formula} THEN '''' || {column} ELSE {column} END, '')"


def _number(column: str) -> str:
    return f"trim_scale({column})::text"


_CELLS = ", ".join((
    _TIMESTAMP, _text("sku"), _number("price_per_unit_usd"), _number("units"),
    _number("amount"), _text("currency"), _text("notes"), _text("request_id"),
    "execution_ms::text", "prompt_tokens::text", "completion_tokens::text",
))
def _literal(value: str) -> str:
    # standard_conforming_strings is on (PostgreSQL's default since 9.1): only quotes need
    # doubling inside a literal.
    return "'" + value.replace("'", "''") + "'"


def _select_sql(where: EntryFilter, after: Position | None, last: Position) -> str:
    # COPY takes no bind parameters; every value here is an int or goes through the dialect's
    # own literal quoting.
    # The plain ts_ms bounds repeat what the row comparisons say: without them the planner
    # cannot tell how narrow the key range is, and scanned the whole table for each batch.
    conditions = [f"account_id = {_literal(where.account_id)}",
                  f"ts_ms <= {int(last.ts_ms)}",
                  f"(ts_ms, id) <= ({int(last.ts_ms)}, {int(last.id)})"]
    if where.currencies is not None:
        conditions.append(f"currency IN ({', '.join(_literal(c) for c in where.currencies)})")
    if where.start_ms is not None:
        conditions.append(f"ts_ms >= {int(where.start_ms)}")
    if where.end_ms is not None:
        conditions.append(f"ts_ms <= {int(where.end_ms)}")
    if after is not None:
        conditions.append(f"ts_ms >= {int(after.ts_ms)}")
        conditions.append(f"(ts_ms, id) > ({int(after.ts_ms)}, {int(after.id)})")
    return (f"SELECT {_CELLS} FROM usage_entries WHERE {' AND '.join(conditions)} "
            "ORDER BY ts_ms, id")

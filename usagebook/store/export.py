"""Streaming an account's entries in ledger order (ts_ms, id), for the CLI export.

Both ways read batches bounded by keys, so memory stays bounded by one batch whatever the
account's size, and each batch is an index range scan at any depth:

- `entry_batches` yields `EntryRow` lists (any backend), for formatting in Python: keyset
  pages (`(ts_ms, id) > last key`, `LIMIT n`);
- `copy_csv_batches` (PostgreSQL) formats the contract's CSV cells in SQL and streams them out of
  `COPY ... TO STDOUT`, so no Python object is built per row, one key range per batch, the
  ranges planned from the count buckets (`store.export_plan`). Its cells restate
  `usagebook.api.entry_csv`, the reference, in SQL; tests/store/test_copy_cells.py holds its
  bytes to the reference's for the same entries.

Run either inside `snapshot(db)`, so every batch reads the same committed state; `joined` adds
connections that read that same state, for COPYing batches in parallel."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.engine import Database
from usagebook.store.entries import ENTRY_COLUMNS, EntryFilter, _filtered
from usagebook.store.export_plan import KeyRange, Position, plan_ranges
from usagebook.store.rows import EntryRow
from usagebook.store.tables.entries import usage_entries as ue


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


@asynccontextmanager
async def joined(
    db: Database, conn: AsyncConnection, more: int
) -> AsyncIterator[list[AsyncConnection]]:
    """PostgreSQL only: `conn` (inside `snapshot`) and `more` read-only connections that see
    exactly its snapshot (`pg_export_snapshot`, then `SET TRANSACTION SNAPSHOT` first thing in
    each of theirs), for reading one state in parallel."""
    snapshot_id = (await conn.execute(select(func.pg_export_snapshot()))).scalar_one()
    async with AsyncExitStack() as stack:
        conns = [conn]
        for _ in range(more):
            other = await stack.enter_async_context(db.engine.connect())
            other = await other.execution_options(isolation_level="REPEATABLE READ",
                                                  postgresql_readonly=True)
            await stack.enter_async_context(other.begin())
            # SET takes no bind parameters; the id is the server's own text, quoted anyway.
            await other.execute(text(f"SET TRANSACTION SNAPSHOT {_literal(snapshot_id)}"))
            conns.append(other)
        yield conns


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
    conns: Sequence[AsyncConnection], where: EntryFilter, after: Position | None, size: int
) -> AsyncGenerator[CsvBatch, None]:
    """PostgreSQL only: the CSV rows (no header) of every matching entry after `after`, in
    batches of about `size` whose bounds the count buckets chose (`store.export_plan`), in
    order. `conns` must share one snapshot (`joined`); each runs one batch at a time, so up to
    len(conns) batches are formatted at once, by as many server processes.

    A batch COPYs one planned key range and then reads the last key it holds (one index probe,
    from the top), so a caller always knows which entry its output ends on. A range of unknown
    or oversized count is cut, on the first connection alone, into batches of exactly `size`,
    each one's last key found first. Close the iterator (`contextlib.aclosing`) before the
    connections: that waits for the batches still running (at most one bounded batch per
    connection). They are not cancelled: a COPY cancelled mid-stream can leave its connection
    unable even to roll back, so an interrupted export failed with CancelledError instead of
    its own error.
    """
    running: deque[asyncio.Task[CsvBatch | None]] = deque()
    started = 0
    try:
        for planned in await plan_ranges(conns[0], where, after, size):
            if not planned.copy_at_once:
                while running:
                    if batch := await running.popleft():
                        yield batch
                async for batch in _probed_batches(conns[0], where, planned, size):
                    yield batch
                continue
            # All connections busy: wait for the oldest batch; its connection takes the next.
            if len(running) == len(conns) and (batch := await running.popleft()):
                yield batch
            conn = conns[started % len(conns)]
            running.append(asyncio.create_task(_planned_batch(conn, where, planned)))
            started += 1
        while running:
            if batch := await running.popleft():
                yield batch
    finally:
        await asyncio.gather(*running, return_exceptions=True)


async def _planned_batch(
    conn: AsyncConnection, where: EntryFilter, planned: KeyRange
) -> CsvBatch | None:
    chunks, rows = await _copy(conn, where, planned)
    if not rows:
        return None
    last = await _bound(conn, where, planned, None)
    assert last is not None  # the snapshot holds the rows COPY just wrote
    return CsvBatch(chunks, rows, last)


async def _probed_batches(
    conn: AsyncConnection, where: EntryFilter, planned: KeyRange, size: int
) -> AsyncIterator[CsvBatch]:
    lower = planned.after
    while (last := await _bound(conn, where, KeyRange(lower, planned.through), size)):
        chunks, rows = await _copy(conn, where, KeyRange(lower, last))
        yield CsvBatch(chunks, rows, last)
        lower = last


# COPY's output reaches the client as the server writes it, a few kB per read, and each read
# costs the event loop a wake-up, a future and two epoll changes: CPU that on a busy machine the
# server's formatting could have used. Pausing briefly after a small piece lets the socket
# buffer gather the next pieces meanwhile (the server keeps writing into it): fewer reads, no
# less throughput (docs/performance.md, "Figures behind store/'s design").
_SMALL_PIECE = 64 * 1024
_GATHER_SECONDS = 0.002


async def _copy(
    conn: AsyncConnection, where: EntryFilter, keys: KeyRange
) -> tuple[list[bytes], int]:
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    chunks: list[bytes] = []

    async def keep(data: bytes) -> None:
        chunks.append(data)
        if len(data) < _SMALL_PIECE:
            await asyncio.sleep(_GATHER_SECONDS)

    status = await driver.copy_from_query(_select_sql(where, keys), output=keep, format="csv")
    return chunks, int(status.split()[-1])  # status: "COPY <rows>"


async def _bound(
    conn: AsyncConnection, where: EntryFilter, keys: KeyRange, size: int | None
) -> Position | None:
    """The `size`-th key in the range (an index-only scan), or, when it holds fewer or `size`
    is None, its very last key (one probe from the top); None when the range is empty."""
    query = _after(_filtered(select(ue.c.ts_ms, ue.c.id), where), keys.after)
    if keys.through is not None:
        query = query.where(tuple_(ue.c.ts_ms, ue.c.id)
                            <= tuple_(keys.through.ts_ms, keys.through.id))
    row = None
    if size is not None:
        row = (await conn.execute(query.order_by(ue.c.ts_ms, ue.c.id).offset(size - 1).limit(1))
               ).first()
    if row is None:
        row = (await conn.execute(query.order_by(ue.c.ts_ms.desc(), ue.c.id.desc()).limit(1))
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


def _select_sql(where: EntryFilter, keys: KeyRange) -> str:
    # COPY takes no bind parameters; every value here is an int or goes through `_literal`.
    # The plain ts_ms bounds repeat what the row comparisons say: without them the planner
    # cannot tell how narrow the key range is, and scanned the whole table for each batch.
    conditions = [f"account_id = {_literal(where.account_id)}"]
    if where.currencies is not None:
        conditions.append(f"currency IN ({', '.join(_literal(c) for c in where.currencies)})")
    if where.start_ms is not None:
        conditions.append(f"ts_ms >= {int(where.start_ms)}")
    if where.end_ms is not None:
        conditions.append(f"ts_ms <= {int(where.end_ms)}")
    if keys.after is not None:
        ts_ms, id_ = int(keys.after.ts_ms), int(keys.after.id)
        conditions += [f"ts_ms >= {ts_ms}", f"(ts_ms, id) > ({ts_ms}, {id_})"]
    if keys.through is not None:
        ts_ms, id_ = int(keys.through.ts_ms), int(keys.through.id)
        conditions += [f"ts_ms <= {ts_ms}", f"(ts_ms, id) <= ({ts_ms}, {id_})"]
    return (f"SELECT {_CELLS} FROM usage_entries WHERE {' AND '.join(conditions)} "
            "ORDER BY ts_ms, id")

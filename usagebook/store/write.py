"""The write path: `write_batch` is the only way an entry reaches the store.

Recording, import, the demo and the benchmarks all call it, so whatever must change with an
entry (balances, count buckets, rollups, alert crossings) changes with it, in the caller's
transaction. Each database has its implementation behind the one interface:
`store.write_postgresql` (one statement of data-modifying CTEs) and `store.write_sqlite` (an
insert, then the projections in Python).

The projections are stated twice, for speed. The reference is the Python statement
(`store.write_sqlite` and the functions it calls: `store.balances.project_balances`,
`store.counts.add_counts`, `store.rollups.update_rollups`, the two alert projections), one
readable function per projection summing a batch in Decimal; the PostgreSQL statement is the
fast path and must equal it. tests/store/test_projections.py holds both to the definition
(each projection row is a sum or count over the stored entries), on both databases, with a
hypothesis property over random ledgers (`test_random_ledgers_keep_every_projection_exact`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store import write_postgresql, write_sqlite
from usagebook.store.rows import NewEntry


class BatchWriter(Protocol):
    """One database's implementation: insert the entries and project those inserted; returns
    each entry's new id, None for one already stored (skipped when `idempotent`; otherwise
    the implementation may raise the unique constraint's IntegrityError instead)."""

    async def __call__(
        self, conn: AsyncConnection, entries: Sequence[NewEntry], *, idempotent: bool
    ) -> list[int | None]: ...


_WRITERS: dict[str, BatchWriter] = {
    "postgresql": write_postgresql.write_batch,
    "sqlite": write_sqlite.write_batch,
}


class AlreadyStored(Exception):
    """A write that assumed its entries new met one already stored; the transaction is lost
    and must be run again without the assumption."""


async def write_batch(
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
    try:
        ids = await _WRITERS[conn.dialect.name](conn, entries, idempotent=not assume_new)
    except IntegrityError as exc:
        if assume_new and write_postgresql.UNIQUE_ENTRY in str(exc.orig):
            raise AlreadyStored from exc
        raise
    if assume_new and None in ids:
        raise AlreadyStored  # SQLite skipped it (ON CONFLICT): the same answer as PostgreSQL's
    return ids


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

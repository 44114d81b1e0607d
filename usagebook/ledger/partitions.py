"""The ledger's monthly partitions (PostgreSQL): making the coming months while a server runs,
listing them, and archiving old months.

Archiving months before `before` writes each month's entries to `<directory>/<partition>.csv`
(every column, exact money, ledger order) and then removes them, one month per transaction
(`store.partitions.archive`); rows of those months in the default partition go to
`usage_entries_default_before_<before>.csv`. What stays: every balance, DIEM day and analytics
rollup (projections of what was charged), and every idempotency key, so a repeat of an archived
event is answered as a duplicate and never charged again. Pages, totals and exports then list
only the stored entries. The current month and later are refused: they are still being written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from usagebook.errors import InvalidInput
from usagebook.store import partitions as store
from usagebook.store.engine import Database
from usagebook.store.partitions import DEFAULT, Month, Partition
from usagebook.timeutil import now_ms

log = logging.getLogger("usagebook.partitions")

# How long a check waits for the migration lock or the ledger's lock before trying later.
LOCK_WAIT_MS = 2000


@dataclass(frozen=True)
class Archived:
    partition: str
    path: Path
    rows: int


async def list_partitions(db: Database) -> list[Partition]:
    _require_partitioned(db)
    async with db.read() as conn:
        return await store.list_partitions(conn)


async def archive_before(db: Database, before: str, directory: Path) -> list[Archived]:
    """Archive every month before `before` (YYYY-MM) into `directory`; returns what was
    archived, oldest first (nothing when every such month is archived already)."""
    _require_partitioned(db)
    cutoff = Month.parse(before)
    if cutoff is None:
        raise InvalidInput.single("before", "must be a month, YYYY-MM")
    if cutoff > Month.of(now_ms()):
        raise InvalidInput.single("before", "must not be after the current month (months "
                                             "still being recorded cannot be archived)")
    if not directory.is_dir():
        raise InvalidInput.single("to", f"{directory} is not a directory")
    async with db.read() as conn:
        found = await store.list_partitions(conn)
    done = []
    for partition in found:
        if partition.month is not None and partition.month < cutoff:
            path = directory / f"{partition.name}.csv"
            async with db.write() as conn:
                rows = await store.archive(conn, partition.name, path)
            done.append(Archived(partition.name, path, rows))
    path = directory / f"{DEFAULT}_before_{cutoff.year:04d}_{cutoff.month:02d}.csv"
    async with db.write() as conn:
        rows = await store.archive(conn, DEFAULT, path, before_ms=cutoff.start_ms)
    if rows:
        done.append(Archived(DEFAULT, path, rows))
    else:
        path.unlink()
    return done


async def keep_months_ready(db: Database) -> list[str]:
    """Make this month's partition and the next MONTHS_AHEAD where missing; the names made."""
    if db.is_sqlite:
        return []
    async with db.write() as conn:
        return await store.keep_months_ready(conn, now_ms(), LOCK_WAIT_MS)


@asynccontextmanager
async def partition_upkeep(db: Database, every_seconds: float) -> AsyncIterator[None]:
    """Check the coming months' partitions every `every_seconds` in the background for the
    block (a server's lifetime), on PostgreSQL. Any number of servers may run it at once."""
    if db.is_sqlite:
        yield
        return
    task = asyncio.create_task(_check_every(db, every_seconds), name="usagebook-partitions")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _check_every(db: Database, every_seconds: float) -> None:
    while True:
        await asyncio.sleep(every_seconds)
        try:
            made = await keep_months_ready(db)
        except Exception as exc:  # a database away or a lock busy: the next check tries again
            log.warning("ledger partitions not checked (%s); trying again in %g s",
                        type(exc).__name__, every_seconds)
            continue
        if made:
            log.info("ledger partitions created", extra={"partitions": made})


def _require_partitioned(db: Database) -> None:
    if db.is_sqlite:
        raise InvalidInput.single(
            "database", "the ledger is partitioned only on PostgreSQL (SQLite keeps one table)")

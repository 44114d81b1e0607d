"""The ledger's partitions on PostgreSQL (revision 0012; SQLite keeps one plain table).

`usage_entries` is range-partitioned by `ts_ms`, one partition per UTC calendar month
(`usage_entries_YYYY_MM`), plus `usage_entries_default` for rows of a month that has none yet.
It is normally empty: every `usagebook migrate`, so every `serve` start, creates this month's
partition and the next MONTHS_AHEAD, and a running server does the same every
`partition_check_seconds` (`keep_months_ready`). Should rows of a month reach it all the same
(every server down or failing its checks for MONTHS_AHEAD months), they stay correct there
(every read covers the default partition, and archiving takes its share of a month), and the
next check that makes their month moves them into it, with a warning in the log.

Idempotency lives apart, in `usage_request_keys` ((account, request_id, sku) -> the entry's id
and ts_ms), because PostgreSQL requires the partition key in every unique key of a partitioned
table: a key unique only within its month would let a retry of the same event, sent with
another timestamp, be charged again. The keys are never archived, so a repeat of an archived
event is still a duplicate, for ever. Both tables carry the account in every key.

Archiving a month writes every column of its rows to a CSV file with COPY (money as
PostgreSQL's exact numeric text, in ledger order), subtracts them from the count buckets (page
totals count what is stored) and drops the partition, in one transaction that holds writes to
that month only. Balances, DIEM days and the analytics rollups are projections of everything
ever charged and keep their figures.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.migrate import MIGRATION_LOCK

log = logging.getLogger("usagebook.store")

MONTHS_AHEAD = 2  # partitions kept ready beyond the current month
DEFAULT = "usage_entries_default"
_NAME = re.compile(r"usage_entries_([0-9]{4})_([0-9]{2})")  # fullmatch


@dataclass(frozen=True, order=True)
class Month:
    """A UTC calendar month, the span of one partition: [start_ms, following().start_ms)."""

    year: int
    month: int

    @classmethod
    def of(cls, ms: int) -> Month:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
        return cls(moment.year, moment.month)

    @classmethod
    def parse(cls, value: str) -> Month | None:
        """`YYYY-MM`, or None when it is not one."""
        found = re.fullmatch(r"([0-9]{4})-([0-9]{2})", value.strip())
        if found is None or not 1 <= int(found[2]) <= 12 or int(found[1]) < 1970:
            return None
        return cls(int(found[1]), int(found[2]))

    @property
    def start_ms(self) -> int:
        return int(datetime(self.year, self.month, 1, tzinfo=UTC).timestamp()) * 1000

    def following(self, months: int = 1) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    @property
    def table(self) -> str:
        return f"usage_entries_{self.year:04d}_{self.month:02d}"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


# --- creating partitions (synchronous: migrations and Alembic's env run them) -------------------

def is_partitioned(connection: Connection) -> bool:
    return connection.execute(text(
        "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('usage_entries')"
    )).first() is not None


def _partition_names(connection: Connection) -> set[str]:
    rows = connection.execute(text(
        "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'usage_entries'::regclass"))
    return {name for (name,) in rows}


def ensure_months(connection: Connection, first: Month, last: Month) -> list[str]:
    """Create the partitions of the months first..last that are missing; returns their names.
    Run under the migration lock (Alembic's env holds it), so hosts never race to create one."""
    existing = _partition_names(connection)
    made = []
    month = first
    while month <= last:
        if month.table not in existing:
            _create(connection, month)
            made.append(month.table)
        month = month.following()
    return made


def ensure_partitions(connection: Connection, now_ms: int) -> list[str]:
    """This month's partition and the next MONTHS_AHEAD (nothing on an unpartitioned ledger:
    SQLite, or PostgreSQL before revision 0012)."""
    if connection.dialect.name != "postgresql" or not is_partitioned(connection):
        return []
    current = Month.of(now_ms)
    return ensure_months(connection, current, current.following(MONTHS_AHEAD))


async def keep_months_ready(conn: AsyncConnection, now_ms: int, lock_wait_ms: int) -> list[str]:
    """`ensure_partitions` for a running server, in the caller's write transaction; returns the
    partitions it made. It holds the migration lock for the transaction, so servers checking at
    once, or a host migrating, make each month once (the others then find it made). Only making
    a month locks the ledger (exclusively: recording queues behind the wait), so waiting for
    either lock gives up after `lock_wait_ms` (LockNotAvailableError), and the next check tries
    again."""
    await conn.execute(text("SELECT set_config('lock_timeout', :wait, true)"),
                       {"wait": f"{int(lock_wait_ms)}ms"})
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    return list(await conn.run_sync(ensure_partitions, now_ms))


def _create(connection: Connection, month: Month) -> None:
    low, high = month.start_ms, month.following().start_ms
    span = f"ts_ms >= {low} AND ts_ms < {high}"
    stray = connection.execute(text(f"SELECT count(*) FROM {DEFAULT} WHERE {span}")).scalar()
    create = (f"CREATE TABLE {month.table} PARTITION OF usage_entries "
              f"FOR VALUES FROM ({low}) TO ({high})")
    if not stray:
        connection.execute(text(create))
        return
    # Rows of this month came while it had no partition. PostgreSQL refuses a partition whose
    # rows the default one holds: take the default out, route its rows of the month through
    # the parent into the new partition, and put it back, in this one transaction.
    connection.execute(text(f"ALTER TABLE usage_entries DETACH PARTITION {DEFAULT}"))
    connection.execute(text(create))
    connection.execute(text(f"INSERT INTO usage_entries SELECT * FROM {DEFAULT} WHERE {span}"))
    connection.execute(text(f"DELETE FROM {DEFAULT} WHERE {span}"))
    connection.execute(text(f"ALTER TABLE usage_entries ATTACH PARTITION {DEFAULT} DEFAULT"))
    log.warning("ledger rows of a month without a partition were in the default partition; "
                "moved into the month's new partition", extra={"partition": month.table,
                                                                "rows": int(stray)})


# --- listing and archiving (the CLI's, asynchronous) --------------------------------------------

@dataclass(frozen=True)
class Partition:
    name: str
    month: Month | None  # None: the default partition
    rows: int  # PostgreSQL's estimate (pg_class.reltuples; -1 before the first ANALYZE)
    bytes: int  # with its indexes


async def list_partitions(conn: AsyncConnection) -> list[Partition]:
    rows = await conn.execute(text(
        "SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid) "
        "FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'usage_entries'::regclass ORDER BY c.relname"))
    found = []
    for name, estimate, size in rows:
        match = _NAME.fullmatch(name)
        month = Month(int(match[1]), int(match[2])) if match else None
        found.append(Partition(name, month, int(estimate), int(size)))
    return found


async def ledger_is_partitioned(conn: AsyncConnection) -> bool:
    return bool(await conn.run_sync(is_partitioned))


# Floored hour and day starts, as the write path and migration 0003 compute them.
_HOUR = "(ts_ms - (((ts_ms % 3600000) + 3600000) % 3600000))"
_DAY = "(ts_ms - (((ts_ms % 86400000) + 86400000) % 86400000))"


async def archive(conn: AsyncConnection, partition: str, path: Path,
                  before_ms: int | None = None) -> int:
    """Write the partition's rows (with `before_ms`, only those before it: the default
    partition's share of archived months) to `path` as CSV with a header, then remove them
    from the ledger and the count buckets; returns the number of rows. Run in the caller's
    transaction: on any failure nothing is removed (the file may remain; archiving again
    rewrites it). The file is complete on disk before the caller commits."""
    if partition != DEFAULT and not _NAME.fullmatch(partition):
        raise ValueError(f"not a ledger partition: {partition}")
    # SHARE blocks writers of this partition (not of others) until the end of the transaction,
    # so the file holds exactly the rows removed.
    await conn.execute(text(f"LOCK TABLE {partition} IN SHARE MODE"))
    where = "" if before_ms is None else f" WHERE ts_ms < {int(before_ms)}"
    partial = path.with_name(path.name + ".partial")
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    status = await driver.copy_from_query(
        f"SELECT * FROM {partition}{where} ORDER BY ts_ms, id", output=str(partial),
        format="csv", header=True)
    rows = int(str(status).split()[-1])
    with partial.open("rb") as written:
        os.fsync(written.fileno())
    partial.replace(path)
    for table, start, column in (("usage_count_buckets", _HOUR, "hour_ms"),
                                 ("usage_count_days", _DAY, "day_ms")):
        await conn.execute(text(
            f"WITH gone AS (SELECT account_id, {start} AS at, currency, count(*) AS n "
            f"FROM {partition}{where} GROUP BY 1, 2, 3) "
            f"UPDATE {table} AS t SET entries = t.entries - gone.n FROM gone "
            f"WHERE t.account_id = gone.account_id AND t.{column} = gone.at "
            "AND t.currency = gone.currency"))
    if before_ms is None:
        await conn.execute(text(f"ALTER TABLE usage_entries DETACH PARTITION {partition}"))
        await conn.execute(text(f"DROP TABLE {partition}"))
    else:
        await conn.execute(text(f"DELETE FROM {partition}{where}"))
    return rows

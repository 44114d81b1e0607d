"""The operator's export: every entry of an account that `/billing/usage` lists for the same
filters, ascending in ledger order (ts_ms, id), as the contract's CSV or as JSON lines.

Guarantees:
- the same filters select the same entries as `/billing/usage` (`UsageQuery.entry_filter`);
- the bytes are the caller's `EntryFormat` (the contract's CSV and JSON lines are
  `usagebook.api.export`'s); a CSV export on PostgreSQL has its cells formatted by the database
  itself (`store.export.copy_csv_batches`, held equal to the API's CSV by
  tests/store/test_copy_cells.py);
- memory is bounded by one batch, and output is only ever written a whole batch at a time, so
  after an interruption the last reported cursor names the last entry written;
- `after` (a cursor `<ts_ms>-<id>`) resumes right after that entry; a resumed CSV has no header.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Protocol

from usagebook.errors import ProblemCollector
from usagebook.ledger import filters
from usagebook.ledger.accounts import require_account
from usagebook.ledger.usage import UsageQuery, parse_time_bound
from usagebook.money import FILTER_CURRENCIES
from usagebook.store import export as store
from usagebook.store.engine import Database, for_lagging_reads
from usagebook.store.entries import EntryFilter
from usagebook.store.export_plan import Position
from usagebook.store.rows import EntryRow
from usagebook.timeutil import to_ms

FORMATS = ("csv", "jsonl")
PYTHON_BATCH = 5_000
COPY_BATCH = 100_000
# Batches formatted at once by as many PostgreSQL processes, all reading one snapshot: the
# server's cell formatting, not the transfer, is what bounds a CSV export.
COPY_CONNECTIONS = 2
_CURSOR = re.compile(r"(-?[0-9]{1,19})-([0-9]{1,19})")  # fullmatch


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True)
class EntryFormat:
    """How exported entries are written: `header` starts a fresh (not resumed) export, `render`
    writes one batch of entries whole. `database_csv`: PostgreSQL's COPY CSV
    (`store.export.copy_csv_batches`) writes these same bytes, so a CSV export there uses it."""

    header: bytes
    render: Callable[[list[EntryRow]], bytes]
    database_csv: bool = False


@dataclass(frozen=True)
class ExportQuery:
    """What to export. Start and end are ISO 8601 date-times, inclusive, parsed exactly as
    `/billing/usage` parses its start and end (`timeutil.parse_date_time`)."""

    account_id: str
    format: str = "csv"
    currency: str | None = None
    start: str | None = None
    end: str | None = None
    after: str | None = None

    def resolve(self) -> tuple[EntryFilter, Position | None]:
        """The store filter and resume position; raises InvalidInput naming every bad field."""
        problems = ProblemCollector()
        if self.format not in FORMATS:
            problems.add("format", f"must be one of {', '.join(FORMATS)}")
        filters.check_currency(problems, self.currency, FILTER_CURRENCIES)
        start = parse_time_bound(self.start, "start", problems)
        end = parse_time_bound(self.end, "end", problems)
        if start and end:  # compared in whole milliseconds, a naive bound being UTC
            filters.check_order(problems, to_ms(start), to_ms(end), "start", "end")
        after = parse_cursor(self.after, problems)
        problems.raise_if_any()
        return UsageQuery(self.account_id, self.currency, start, end).entry_filter(), after


@dataclass(frozen=True)
class Exported:
    """How far an export got: entries written and the cursor of the last one (None if none)."""

    entries: int
    cursor: str | None


def format_cursor(position: Position) -> str:
    return f"{position.ts_ms}-{position.id}"


def parse_cursor(text: str | None, problems: ProblemCollector) -> Position | None:
    if text is None:
        return None
    match = _CURSOR.fullmatch(text)
    if match is None:
        problems.add("after", "must be a cursor printed by an earlier export (<ts_ms>-<id>)")
        return None
    return Position(int(match[1]), int(match[2]))


async def count_remaining(db: Database, query: ExportQuery) -> int:
    """How many entries an export would write (for a progress bar; not part of its snapshot)."""
    where, after = query.resolve()
    async with db.read() as conn:
        return await store.count_after(conn, where, after)


async def export_entries(
    db: Database, query: ExportQuery, out: Sink, entry_format: EntryFormat,
    on_batch: Callable[[Exported], None] | None = None, batch_size: int | None = None,
    connections: int = COPY_CONNECTIONS,
) -> Exported:
    """Write every matching entry to `out` in `entry_format`; `on_batch` hears the running
    total after each batch is written. A `database_csv` format on PostgreSQL COPYs batches over
    `connections` connections reading one snapshot (of the read standby when one is configured
    and close enough). Raises InvalidInput, or NotFound for an unknown account."""
    where, after = query.resolve()
    db = await for_lagging_reads(db)
    done = Exported(0, query.after)
    async with store.snapshot(db) as conn:
        await require_account(conn, query.account_id)
        if after is None and entry_format.header:
            out.write(entry_format.header)
        if entry_format.database_csv and not db.is_sqlite:
            async with store.joined(db, conn, connections - 1) as conns, aclosing(
                store.copy_csv_batches(conns, where, after, batch_size or COPY_BATCH)
            ) as batches:
                async for batch in batches:
                    for chunk in batch.chunks:
                        out.write(chunk)
                    done = _advance(done, batch.rows, batch.last, on_batch)
            return done
        async for rows in store.entry_batches(conn, where, after,
                                                 batch_size or PYTHON_BATCH):
            out.write(entry_format.render(rows))
            done = _advance(done, len(rows), Position(rows[-1].ts_ms, rows[-1].id), on_batch)
    return done


def _advance(
    done: Exported, rows: int, last: Position, on_batch: Callable[[Exported], None] | None
) -> Exported:
    done = Exported(done.entries + rows, format_cursor(last))
    if on_batch:
        on_batch(done)
    return done

"""The ledger's hot reads in one statement each: a /billing/usage page with its exact total, and
a usage-history keyset page with its snapshot bound.

The SQL text is written here with plain string formatting (a few microseconds; no SQLAlchemy
statement is built, cache-keyed or compiled per request), the values always as parameters, so a
text depends only on the filter's shape (which of currency, start and end are set, which pieces
of `store.paging`'s cut exist) and asyncpg prepares each shape once per connection.
PostgreSQL runs one statement outside any transaction (one statement is one snapshot, so the
total and the page agree); SQLite runs the same statements in one hand-off to a reader thread,
inside one read transaction (`store.reader`).

The plans stay the index walks `store.entries` gets: a keyset or short OFFSET over
(account_id[, currency], ts_ms, id), and count buckets summed by primary key; with
`plan_cache_mode = force_custom_plan` (see `store.engine`) each run is planned for its values.

A page can also be read as its entries' wire text (`store.entry_text`): the same statements,
the text written by the database for the page's rows only (a /billing/usage page joined by
PostgreSQL itself, so it comes back as one value), so no Python object is built per entry.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from usagebook.money import from_nanos
from usagebook.store.engine import Database
from usagebook.store.entries import ENTRY_COLUMNS, EntryFilter
from usagebook.store.entry_text import EntryText
from usagebook.store.paging import Cut, cut_range
from usagebook.store.rows import EntryRow
from usagebook.store.types import Money

_COLUMNS = ", ".join(column.name for column in ENTRY_COLUMNS)  # EntryRow's fields, in order
# Money columns are whole nano-units on SQLite.
_MONEY = tuple(i for i, column in enumerate(ENTRY_COLUMNS) if isinstance(column.type, Money))
T = TypeVar("T")


class _Params:
    """Placeholders in order: `$n` for asyncpg, `?n` for sqlite3."""

    def __init__(self, mark: str) -> None:
        self.mark = mark
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"{self.mark}{len(self.values)}"


def handles(where: EntryFilter) -> bool:
    """Whether these statements can serve `where` (tag filters go through `store.entries`)."""
    return not where.tags


def _where(where: EntryFilter, p: _Params, start: int | None, end: int | None) -> str:
    """The entry filter with these inclusive bounds (a piece of the range, or all of it)."""
    assert handles(where)
    sql = f"account_id = {p(where.account_id)}"
    if where.currencies is not None:
        sql += f" AND currency IN ({', '.join(p(c) for c in where.currencies)})"
    if start is not None:
        sql += f" AND ts_ms >= {p(start)}"
    if end is not None:
        sql += f" AND ts_ms <= {p(end)}"
    if where.api_key_id is not None:
        sql += f" AND api_key_id = {p(where.api_key_id)}"
    if where.skus is not None:
        # Never empty: the ledger answers a filter that matches no SKU without a query.
        sql += f" AND sku IN ({', '.join(p(sku) for sku in where.skus)})"
    return sql


def _buckets(table: str, column: str, where: EntryFilter, spans: Any, p: _Params) -> str:
    sql = f"SELECT sum(entries) FROM {table} WHERE account_id = {p(where.account_id)}"
    if where.currencies is not None:
        sql += f" AND currency IN ({', '.join(p(c) for c in where.currencies)})"
    ranges = []
    for lo, hi in spans:
        parts = ([f"{column} >= {p(lo)}"] if lo is not None else []) + (
            [f"{column} < {p(hi)}"] if hi is not None else [])
        ranges.append(" AND ".join(parts) or "1 = 1")
    return sql + " AND (" + " OR ".join(f"({r})" for r in ranges) + ")"


def _total(where: EntryFilter, cut: Cut | None, p: _Params) -> str:
    """An expression for the exact number of matching entries (as `paging.count_matching`)."""
    if cut is None:
        return (f"(SELECT count(*) FROM usage_entries "
                f"WHERE {_where(where, p, where.start_ms, where.end_ms)})")
    parts = []
    if cut.days is not None:
        parts.append(_buckets("usage_count_days", "day_ms", where, (cut.days,), p))
    if cut.hours:
        parts.append(_buckets("usage_count_buckets", "hour_ms", where, cut.hours, p))
    for edge in (cut.low_edge, cut.high_edge):
        if edge is not None:
            assert edge[0] is not None and edge[1] is not None
            parts.append("SELECT count(*) FROM usage_entries WHERE "
                         + _where(where, p, edge[0], edge[1] - 1))
    return " + ".join(f"coalesce(({part}), 0)" for part in parts)


def _page_sql(where: EntryFilter, descending: bool, limit: int, offset: int,
              p: _Params, columns: str = _COLUMNS) -> str:
    order = "ts_ms DESC, id DESC" if descending else "ts_ms, id"
    return (f"SELECT {columns} FROM usage_entries "
            f"WHERE {_where(where, p, where.start_ms, where.end_ms)} "
            f"ORDER BY {order} LIMIT {p(limit)} OFFSET {p(offset)}")


async def page_with_total(
    db: Database, where: EntryFilter, *, descending: bool, limit: int, offset: int
) -> tuple[int, list[EntryRow]]:
    """The exact total of `where` and one page of it (ledger order or its reverse), read on
    one snapshot in one statement (PostgreSQL) or one hand-off (SQLite)."""
    if db.is_sqlite:
        return await db.call_reader(_sqlite_page, where, descending, limit, offset, _COLUMNS,
                                    _sqlite_entry)
    p, total, page, order = _total_and_page(where, descending, limit, offset)
    sql = (f"SELECT t.total, p.* FROM (SELECT {total} AS total) t "
           f"LEFT JOIN LATERAL ({page}) p ON true ORDER BY {order}")
    records = await db.fetch(sql, *p.values)
    rows = [EntryRow(*record[1:]) for record in records if record[1] is not None]
    return int(records[0][0]), rows


async def page_text_with_total(
    db: Database, where: EntryFilter, text: EntryText, *, descending: bool, limit: int,
    offset: int,
) -> tuple[int, str]:
    """As `page_with_total`, the page's entries as their wire `text`, joined by its separator
    (PostgreSQL joins them itself, so the page comes back as one value)."""
    expression = text.sql(db.dialect)
    if db.is_sqlite:
        count, texts = await db.call_reader(_sqlite_page, where, descending, limit, offset,
                                            expression, _first)
        return count, text.separator.join(texts)
    p, total, page, order = _total_and_page(where, descending, limit, offset)
    # The texts are written outside the page's subquery: the OFFSET's rows are skipped first.
    joined = (f"SELECT string_agg({expression}, {p(text.separator)} ORDER BY {order}) "
              f"FROM ({page}) p")
    record = (await db.fetch(f"SELECT {total}, ({joined})", *p.values))[0]
    return int(record[0]), record[1] or ""


def _total_and_page(where: EntryFilter, descending: bool, limit: int,
                    offset: int) -> tuple[_Params, str, str, str]:
    """PostgreSQL: (the parameters, the total's expression, the page's query, its order)."""
    p = _Params("$")
    total = _total(where, cut_range(where), p)
    page = _page_sql(where, descending, limit, offset, p)
    return p, total, page, "ts_ms DESC, id DESC" if descending else "ts_ms, id"


def _sqlite_page(connection: sqlite3.Connection, where: EntryFilter, descending: bool,
                 limit: int, offset: int, columns: str,
                 convert: Callable[[Any], T]) -> tuple[int, list[T]]:
    counting, paging = _Params("?"), _Params("?")
    total_sql = f"SELECT {_total(where, cut_range(where), counting)}"
    page_sql = _page_sql(where, descending, limit, offset, paging, columns)
    connection.execute("BEGIN")
    try:
        total = int(connection.execute(total_sql, counting.values).fetchone()[0] or 0)
        found = connection.execute(page_sql, paging.values).fetchall() if offset < total else []
    finally:
        connection.execute("COMMIT")
    return total, [convert(row) for row in found]


def _sqlite_entry(row: tuple[Any, ...]) -> EntryRow:
    values = list(row)
    for index in _MONEY:
        values[index] = from_nanos(values[index])
    return EntryRow(*values)


def _first(row: tuple[Any, ...]) -> Any:
    return row[0]


async def history_page(
    db: Database, where: EntryFilter, *, after: tuple[int, int] | None, max_id: int | None,
    limit: int,
) -> tuple[int, list[EntryRow]]:
    """Up to `limit` entries strictly after `after` = (ts_ms, id) in ledger order, none with an
    id above `max_id`; with `max_id` None (a walk's first page), the bound is the highest id
    visible to this same statement. Returns (the bound, the entries)."""
    if db.is_sqlite:
        return await _history(db, where, after, max_id, limit, _COLUMNS, _sqlite_history_entry)
    return await _history(db, where, after, max_id, limit, _COLUMNS, _history_entry)


@dataclass(frozen=True, slots=True)
class HistoryText:
    """Up to a page of entries as their wire text, joined by its separator."""

    text: str
    last: tuple[int, int] | None  # (ts_ms, id) of the last entry in it; None: no entry
    more: bool  # whether an entry follows it


async def history_text_page(
    db: Database, where: EntryFilter, text: EntryText, *, after: tuple[int, int] | None,
    max_id: int | None, limit: int,
) -> tuple[int, HistoryText]:
    """As `history_page`, up to `limit` entries as their wire `text`, and whether more follow."""
    # Row by row: joined by PostgreSQL (in a CTE, to leave the extra row out) it cost the
    # database more than it saved here (docs/performance.md, The read hot path).
    columns = f"ts_ms, id, {text.sql(db.dialect)}"
    top, rows = await _history(db, where, after, max_id, limit + 1, columns, _as_read)
    page = rows[:limit]
    last = (int(page[-1][1]), int(page[-1][2])) if page else None
    return top, HistoryText(text.separator.join([row[3] for row in page]), last,
                            len(rows) > limit)


def _as_read(row: Any) -> Any:
    return row


async def _history(db: Database, where: EntryFilter, after: tuple[int, int] | None,
                   max_id: int | None, limit: int, columns: str,
                   convert: Callable[[Any], T]) -> tuple[int, list[T]]:
    build: Callable[[_Params], str] = lambda p: _history_sql(  # noqa: E731
        where, after, max_id, limit, p, columns)
    if db.is_sqlite:
        return await db.call_reader(_sqlite_history, build, convert)
    p = _Params("$")
    records = await db.fetch(build(p), *p.values)
    if not records:
        return (max_id if max_id is not None else await _top_id(db)), []
    return int(records[0][0]), [convert(record) for record in records]


def _history_entry(record: Any) -> EntryRow:
    return EntryRow(*record[1:])


def _sqlite_history_entry(row: tuple[Any, ...]) -> EntryRow:
    return _sqlite_entry(row[1:])


def _history_sql(where: EntryFilter, after: tuple[int, int] | None, max_id: int | None,
                 limit: int, p: _Params, columns: str) -> str:
    if max_id is None:
        shown = bound = "(SELECT coalesce(max(id), 0) FROM usage_entries)"
    else:
        shown, bound = f"CAST({p(max_id)} AS BIGINT)", p(max_id)
    sql = (f"SELECT {shown} AS top, {columns} FROM usage_entries "
           f"WHERE {_where(where, p, where.start_ms, where.end_ms)} AND id <= {bound}")
    if after is not None:
        sql += f" AND (ts_ms, id) > ({p(after[0])}, {p(after[1])})"
    return sql + f" ORDER BY ts_ms, id LIMIT {p(limit)}"


async def _top_id(db: Database) -> int:
    records = await db.fetch("SELECT coalesce(max(id), 0) FROM usage_entries")
    return int(records[0][0])


def _sqlite_history(connection: sqlite3.Connection, build: Callable[[_Params], str],
                    convert: Callable[[Any], T]) -> tuple[int, list[T]]:
    p = _Params("?")
    sql = build(p)
    connection.execute("BEGIN")
    try:
        found = connection.execute(sql, p.values).fetchall()
        top = found[0][0] if found else connection.execute(
            "SELECT coalesce(max(id), 0) FROM usage_entries").fetchone()[0]
    finally:
        connection.execute("COMMIT")
    return int(top), [convert(row) for row in found]

"""The cursor walk behind GET /billing/usage-history.

How a walk stays exact while entries are being recorded
-------------------------------------------------------
A walk visits an account's entries in ledger order `(ts_ms, id)`, ascending, by keyset: each
page asks for the entries strictly after the last one returned, so no entry can be returned
twice, whatever is recorded meanwhile, and an entry's position never moves, so none that exists
can be stepped over. Timestamps alone would not do: entries are recorded out of timestamp order
(the recording endpoint accepts timestamps from 24 hours ago), so a new entry may land before
the walk's position (it is then simply not visited) or after it.

Entries after the position are kept out by a snapshot bound: the first page reads the highest
entry id visible at that moment (`snapshot_id`), and every page ignores ids above it. Every entry
that existed when the walk started was committed, hence visible, hence has an id at or below the
bound, so none is missed. On PostgreSQL ids come from a sequence and are not commit-ordered: a
transaction in flight when the walk started may hold a lower id and commit later. Such an entry
did not exist when the walk started; it may or may not be returned (it is returned if its
position is still ahead of the walk), but, like every entry, at most once. On SQLite writers are
serialised, so ids are commit-ordered and the bound is exact.

The cursor carries the filters, the page size, the position and the bound, signed (see
`usagebook.ledger.cursors`); continuation requests send the cursor alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from usagebook.errors import InvalidInput, ProblemCollector
from usagebook.ledger import filters
from usagebook.ledger.cursors import (
    CURSOR_LIFETIME_MS,
    INVALID_MESSAGE,
    WalkCursor,
    decode_cursor,
    encode_cursor,
)
from usagebook.ledger.events import TagFilters
from usagebook.money import Currency
from usagebook.store import entries as store
from usagebook.store import pages
from usagebook.store.engine import Database
from usagebook.store.entries import EntryFilter
from usagebook.store.entry_text import EntryText
from usagebook.store.rows import EntryRow
from usagebook.timeutil import now_ms, to_ms

MIN_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 1000
HISTORY_CURRENCIES = tuple(c.value for c in Currency)  # no legacy VCU here, as at Venice


@dataclass(frozen=True)
class HistoryQuery:
    """A first page (filters, no cursor) or a continuation (a cursor and nothing else).
    `start` is inclusive, `end` exclusive."""

    account_id: str
    cursor: str | None = None
    currency: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    page_size: int | None = None
    tags: TagFilters = ()  # read and checked at the edge (`api.tag_params`)

    def validate(self) -> None:
        """Raise InvalidInput naming every bad field at once, by its name here."""
        problems = ProblemCollector()
        if self.cursor is not None:
            sent = {"currency": self.currency, "start": self.start, "end": self.end,
                    "page_size": self.page_size, "tags": self.tags or None}
            for name, value in sent.items():
                if value is not None:
                    problems.add(name, "must not be sent with a cursor (the cursor carries it)")
        filters.check_currency(problems, self.currency, HISTORY_CURRENCIES)
        if self.page_size is not None and not MIN_PAGE_SIZE <= self.page_size <= MAX_PAGE_SIZE:
            problems.add("page_size", f"must be between {MIN_PAGE_SIZE} and {MAX_PAGE_SIZE}")
        if self.start and self.end and _as_utc(self.end) <= _as_utc(self.start):
            problems.add("end", "must be later than {start}")
        problems.raise_if_any()


@dataclass(frozen=True)
class HistoryPage:
    entries: list[EntryRow]
    next_cursor: str | None
    # The entries as the wire text asked for, joined, when the database wrote it (then
    # `entries` is empty); None when they are in `entries`.
    text: str | None = None


async def walk_history(db: Database, query: HistoryQuery, secret: str,
                       text: EntryText | None = None) -> HistoryPage:
    """One page of the walk. Raises InvalidInput for bad filters or a rejected cursor. With
    `text`, the usual page comes back as the entries' wire text (`HistoryPage.text`)."""
    query.validate()
    now = now_ms()
    if query.cursor is not None:
        cursor = _checked(decode_cursor(query.cursor, query.account_id, secret, now))
        max_id: int | None = cursor.snapshot_id
    else:  # the bound is read by the same statement as the first page
        cursor, max_id = _first_cursor(query, 0), None
    where = _entry_filter(query.account_id, cursor)
    after = _position(cursor, query)
    one_statement = pages.handles(where) and (db.has_reader or not db.is_sqlite)
    if one_statement and text is not None:
        top, found = await db.retrying(lambda d: pages.history_text_page(
            d, where, text, after=after, max_id=max_id, limit=cursor.page_size))
        cursor = replace(cursor, snapshot_id=top)
        following = _following(cursor, found.last, now) if found.more and found.last else None
        return HistoryPage([], _signed(following, query.account_id, secret), found.text)
    if one_statement:
        top, rows = await db.retrying(lambda d: pages.history_page(
            d, where, after=after, max_id=max_id, limit=cursor.page_size + 1))
    else:
        async with db.read() as conn:
            top = max_id if max_id is not None else await store.max_entry_id(conn)
            rows = await store.list_entries_after(conn, where, after=after, max_id=top,
                                                  limit=cursor.page_size + 1)
    cursor = replace(cursor, snapshot_id=top)
    if len(rows) <= cursor.page_size:
        return HistoryPage(rows, None)
    rows = rows[: cursor.page_size]
    following = _following(cursor, (rows[-1].ts_ms, rows[-1].id), now)
    return HistoryPage(rows, _signed(following, query.account_id, secret))


def _following(cursor: WalkCursor, last: tuple[int, int], now: int) -> WalkCursor:
    """The cursor of the page after the one that ended at `last` = (ts_ms, id)."""
    return WalkCursor(
        currency=cursor.currency, start_ms=cursor.start_ms, end_ms=cursor.end_ms,
        page_size=cursor.page_size, after_ts=last[0], after_id=last[1],
        snapshot_id=cursor.snapshot_id, expires_ms=now + CURSOR_LIFETIME_MS, tags=cursor.tags,
    )


def _signed(cursor: WalkCursor | None, account_id: str, secret: str) -> str | None:
    return None if cursor is None else encode_cursor(cursor, account_id, secret)


def _checked(cursor: WalkCursor) -> WalkCursor:
    """A signature proves who made a cursor, not that it is sane: a cursor is held to the
    limits of a first page whatever its signature (a leaked or weak secret must not open a
    3000-row page)."""
    if not MIN_PAGE_SIZE <= cursor.page_size <= MAX_PAGE_SIZE:
        raise InvalidInput.single("cursor", INVALID_MESSAGE)
    return cursor


def _first_cursor(query: HistoryQuery, snapshot_id: int) -> WalkCursor:
    # The position fields are unused on a first page (see _position).
    return WalkCursor(
        currency=query.currency,
        # Entries have whole milliseconds: a bound between two of them is rounded up, since
        # the inclusive start must not admit the ms before it, and the exclusive end admits it.
        start_ms=to_ms(query.start, round_up=True) if query.start else None,
        end_ms=to_ms(query.end, round_up=True) if query.end else None,
        page_size=query.page_size or DEFAULT_PAGE_SIZE,
        after_ts=0, after_id=0, snapshot_id=snapshot_id, expires_ms=0, tags=query.tags,
    )


def _as_utc(moment: datetime) -> datetime:
    # A naive bound is UTC; comparing it with an aware one directly would raise.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _position(cursor: WalkCursor, query: HistoryQuery) -> tuple[int, int] | None:
    return (cursor.after_ts, cursor.after_id) if query.cursor is not None else None


def _entry_filter(account_id: str, cursor: WalkCursor) -> EntryFilter:
    return EntryFilter(
        account_id=account_id,
        currencies=(cursor.currency,) if cursor.currency else None,
        start_ms=cursor.start_ms,
        # The walk's end is exclusive; EntryFilter's bounds are inclusive whole milliseconds.
        end_ms=cursor.end_ms - 1 if cursor.end_ms is not None else None,
        tags=cursor.tags,
    )

"""The page-numbered ledger behind GET /billing/usage."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from usagebook.errors import ProblemCollector
from usagebook.ledger import filters
from usagebook.money import FILTER_CURRENCIES
from usagebook.store import entries as store
from usagebook.store import pages, paging, skus
from usagebook.store.engine import Database
from usagebook.store.entries import EntryFilter
from usagebook.store.entry_text import EntryText
from usagebook.store.rows import EntryRow
from usagebook.timeutil import parse_date_time, to_ms

MAX_LIMIT = 500
DEFAULT_LIMIT = 200
# Below this many rows a plain OFFSET costs less than locating the page through the buckets.
DIRECT_OFFSET = 2_000


@dataclass(frozen=True)
class UsageQuery:
    """One request for a page of an account's ledger. Date bounds are inclusive."""

    account_id: str
    currency: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = DEFAULT_LIMIT
    page: int = 1
    descending: bool = True
    # usagebook's own filters (not Venice's): one API key's entries, one model's (its SKUs).
    api_key_id: str | None = None
    model_id: str | None = None

    def validate(self) -> None:
        """Raise InvalidInput naming every bad field at once, by its name here."""
        problems = ProblemCollector()
        filters.check_currency(problems, self.currency, FILTER_CURRENCIES)
        if not 1 <= self.limit <= MAX_LIMIT:
            problems.add("limit", f"must be between 1 and {MAX_LIMIT}")
        if self.page < 1:
            problems.add("page", "must be 1 or more")
        filters.check_order(problems, _as_utc(self.start), _as_utc(self.end), "start", "end")
        filters.check_key_id(problems, self.api_key_id, "api_key_id")
        filters.check_model_id(problems, self.model_id, "model_id")
        problems.raise_if_any()

    def entry_filter(self) -> EntryFilter:
        return EntryFilter(
            account_id=self.account_id,
            # VCU is accepted as a filter for Venice clients but never stored, so it matches
            # nothing: imported VCU entries are stored, and found, as DIEM.
            currencies=(self.currency,) if self.currency else None,
            start_ms=to_ms(self.start, round_up=True) if self.start else None,
            end_ms=to_ms(self.end) if self.end else None,
            api_key_id=self.api_key_id,
        )


def parse_time_bound(text: str | None, field: str, problems: ProblemCollector) -> datetime | None:
    """An optional date bound as /billing/usage and the export take it: ISO 8601 date-time
    text (`timeutil.parse_date_time`). A bad one is added to `problems` under `field`."""
    if text is None:
        return None
    try:
        return parse_date_time(text)
    except ValueError as exc:
        problems.add(field, str(exc))
        return None


def _as_utc(moment: datetime | None) -> datetime | None:
    # A naive bound is UTC; comparing it with an aware one directly would raise.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@dataclass(frozen=True)
class UsagePage:
    entries: list[EntryRow]
    total: int
    limit: int
    page: int
    # The entries as the wire text asked for, joined, when the database wrote it (then
    # `entries` is empty); None when they are in `entries`.
    text: str | None = None

    @property
    def total_pages(self) -> int:
        return -(-self.total // self.limit)


async def list_usage(db: Database, query: UsageQuery, text: EntryText | None = None) -> UsagePage:
    """A page and the exact total, at a cost that does not grow with the page number or the
    account's size: the total sums count buckets, and a deep page skips whole buckets before
    a short OFFSET (see `usagebook.store.paging`). Both read one snapshot. With `text`, the
    usual request comes back as the entries' wire text (`UsagePage.text`)."""
    query.validate()
    where = query.entry_filter()
    if query.model_id is not None:
        async with db.read() as conn:
            where = replace(where, skus=await skus.skus_of_model(conn, query.model_id))
        if not where.skus:
            return UsagePage(entries=[], total=0, limit=query.limit, page=query.page)
    offset = (query.page - 1) * query.limit
    if offset <= DIRECT_OFFSET and pages.handles(where) and (db.has_reader or not db.is_sqlite):
        # The usual request (the first pages): total and page in one statement.
        if text is not None:
            total, joined = await db.retrying(lambda d: pages.page_text_with_total(
                d, where, text, descending=query.descending, limit=query.limit, offset=offset))
            return UsagePage([], total, query.limit, query.page, joined)
        total, first = await db.retrying(lambda d: pages.page_with_total(
            d, where, descending=query.descending, limit=query.limit, offset=offset))
        return UsagePage(entries=first, total=total, limit=query.limit, page=query.page)
    async with db.read() as conn:
        await paging.use_one_snapshot(conn)
        if offset > DIRECT_OFFSET:
            start = await paging.locate_page(conn, where, descending=query.descending,
                                             offset=offset)
            total, narrowed, inner = start.total, start.where, start.offset
        else:
            total = await paging.count_matching(conn, where)
            narrowed, inner = where, offset
        rows: list[EntryRow] = []
        if offset < total:
            rows = await store.list_entries_page(
                conn, narrowed, descending=query.descending, limit=query.limit, offset=inner)
    return UsagePage(entries=rows, total=total, limit=query.limit, page=query.page)

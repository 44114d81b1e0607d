"""A page's entries as wire text are stated twice, for speed: `usagebook.api.entry_json` and
`usagebook.api.entry_csv` (Python, the references) and `store.entry_text`'s SQL (PostgreSQL
writes the JSON objects and CSV rows of /billing/usage and usage-history pages). Whatever the
text and numbers hold, a page served on either database must be exactly what the references
write for the entries as generated."""

from __future__ import annotations

from decimal import Decimal

import orjson
from hypothesis import given
from hypothesis import strategies as st

from tests.store.test_copy_cells import entries_for
from tests.support.harness import Harness, Tenant
from usagebook.api.entry_csv import HEADER, entry_row
from usagebook.api.entry_json import entry_to_wire
from usagebook.api.exact_json import dumps
from usagebook.api.usage import VENICE_USAGE_WARNING
from usagebook.ledger.history import HistoryPage, HistoryQuery, walk_history
from usagebook.ledger.records import EntryText
from usagebook.ledger.usage import UsagePage, UsageQuery, list_usage
from usagebook.store.engine import Database
from usagebook.store.rows import EntryRow, NewEntry
from usagebook.store.write import write_batch

USAGE = "/api/v1/billing/usage"
HISTORY = "/api/v1/billing/usage-history"
CSV = {"Accept": "text/csv"}


def as_rows(entries: list[NewEntry]) -> list[EntryRow]:
    return [EntryRow(0, e.ts_ms, e.sku, e.price_per_unit_usd, e.units, e.amount, e.currency,
                     e.notes, e.request_id, e.execution_ms, e.prompt_tokens, e.completion_tokens)
            for e in sorted(entries, key=lambda e: e.ts_ms)]


def stored(harness: Harness, entries_of: st.DataObject) -> tuple[Tenant, list[EntryRow]]:
    tenant = harness.tenant("entry text")
    entries = entries_of.draw(entries_for(tenant.account_id))

    async def store(db: Database) -> None:
        async with db.write() as conn:
            await write_batch(conn, entries)

    harness.call(store)
    return tenant, as_rows(entries)


@given(data=st.data())
def test_a_usage_page_is_what_the_references_write(harness: Harness, data: st.DataObject) -> None:
    tenant, rows = stored(harness, data)
    params = {"limit": 500, "sortOrder": "asc"}
    pagination = {"limit": 500, "page": 1, "total": len(rows), "totalPages": 1}
    expected = dumps({"warningMessage": VENICE_USAGE_WARNING,
                      "data": [entry_to_wire(row) for row in rows], "pagination": pagination})
    assert harness.get(USAGE, tenant, params=params).content == expected
    csv = harness.get(USAGE, tenant, params=params, headers=CSV).content
    assert csv == (HEADER + "".join(entry_row(row) for row in rows)).encode()


@given(data=st.data())
def test_history_pages_are_what_the_references_write(harness: Harness,
                                                     data: st.DataObject) -> None:
    tenant, rows = stored(harness, data)
    params: dict[str, object] = {"pageSize": 10}
    for start in range(0, len(rows), 10):
        page = rows[start:start + 10]
        json = harness.get(HISTORY, tenant, params=params)
        cursor = orjson.loads(json.content)["nextCursor"]
        expected = {"data": [entry_to_wire(row) for row in page], "nextCursor": cursor}
        assert json.content == dumps(expected)
        csv = harness.get(HISTORY, tenant, params=params, headers=CSV)
        assert csv.content == (HEADER + "".join(entry_row(row) for row in page)).encode()
        assert (cursor is None) == (start + 10 >= len(rows))
        params = {"cursor": cursor}


def test_the_pages_above_are_written_by_the_database(harness: Harness) -> None:
    # Else the properties above compare the references with themselves.
    tenant = harness.tenant("entry text path")
    entry = NewEntry(tenant.account_id, None, 1_767_225_600_000, "sku-text", Decimal("0.5"),
                     Decimal("2"), Decimal("-1"), "USD", "r-1", None, None, None, None)

    async def pages(db: Database) -> tuple[UsagePage, HistoryPage]:
        async with db.write() as conn:
            await write_batch(conn, [entry])
        usage = await list_usage(db, UsageQuery(tenant.account_id), EntryText.JSON)
        history = await walk_history(db, HistoryQuery(tenant.account_id),
                                     harness.settings.secret_key, EntryText.CSV)
        return usage, history

    usage, history = harness.call(pages)
    assert (usage.entries, history.entries) == ([], [])
    assert usage.text == dumps(entry_to_wire(as_rows([entry])[0])).decode()
    assert history.text == entry_row(as_rows([entry])[0])

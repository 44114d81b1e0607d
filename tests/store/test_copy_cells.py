"""The contract's CSV cells are stated twice, for speed: `usagebook.api.entry_csv` (Python, the
reference: API pages, usage history and the SQLite export) and `store.export`'s SQL (PostgreSQL's
COPY export). Whatever the text and numbers hold, a CSV export on either database must write
exactly what the reference writes for the entries stored, read back through the store."""

from __future__ import annotations

import io
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tests.support.harness import Harness
from usagebook.api.entry_csv import HEADER, entry_row
from usagebook.api.export import export_entries
from usagebook.ledger.accounts import create_account
from usagebook.ledger.export import ExportQuery
from usagebook.store.engine import Database
from usagebook.store.rows import EntryRow, NewEntry
from usagebook.store.write import write_batch

# No NUL (PostgreSQL text cannot hold it) and no lone surrogates (not UTF-8).
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=12)
TRICKY = st.sampled_from(["", "=1+1", "+x", "-3", "@a", "\tt", "\rr", 'a"b', "a,b", "l\nm",
                          "'q", " lead", "é€😀", "\\N", "\\.", "NULL"])
CELL_TEXT = TRICKY | TEXT
# Nine decimals, every digit count; small enough that 25 of them sum within SQLite's 64-bit
# nano-units (a bigger total is refused, not stored).
NANOS = st.integers(min_value=-(10**17), max_value=10**17).map(lambda n: Decimal(n).scaleb(-9))
SMALL = st.none() | st.integers(min_value=0, max_value=2**31 - 1)
# 2000-01-01 .. 2100-01-01: years of four digits, as the contract's timestamps have.
TS = st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000)


def entries_for(account_id: str) -> st.SearchStrategy[list[NewEntry]]:
    entry = st.builds(
        lambda i, ts, sku, price, units, amount, cur, notes, req, ex, pt, ct: NewEntry(
            account_id, None, ts, sku, abs(price), abs(units), amount, cur, f"{req}#{i}",
            notes, ex, pt, ct),
        st.integers(0, 10**9), TS, CELL_TEXT.filter(bool), NANOS, NANOS, NANOS,
        st.sampled_from(["USD", "DIEM", "BUNDLED_CREDITS"]), st.none() | CELL_TEXT, CELL_TEXT,
        SMALL, SMALL, SMALL)
    # Distinct timestamps: the export's order (ts_ms, id) is then the timestamps' order.
    return st.lists(entry, min_size=1, max_size=25,
                    unique_by=(lambda e: (e.request_id, e.sku), lambda e: e.ts_ms))


def reference(entries: list[NewEntry]) -> bytes:
    rows = [EntryRow(0, e.ts_ms, e.sku, e.price_per_unit_usd, e.units, e.amount, e.currency,
                     e.notes, e.request_id, e.execution_ms, e.prompt_tokens, e.completion_tokens)
            for e in sorted(entries, key=lambda e: e.ts_ms)]
    return (HEADER + "".join(entry_row(row) for row in rows)).encode()


async def stored_and_exported(db: Database, entries: list[NewEntry], batch: int) -> bytes:
    async with db.write() as conn:
        await write_batch(conn, entries)
    out = io.BytesIO()
    await export_entries(db, ExportQuery(entries[0].account_id), out, batch_size=batch)
    return out.getvalue()


@given(data=st.data(), batch=st.integers(min_value=1, max_value=30))
def test_a_csv_export_writes_what_the_reference_formatter_writes(
    harness: Harness, data: st.DataObject, batch: int
) -> None:
    account = harness.call(lambda db: create_account(db, "csv cells"))
    entries = data.draw(entries_for(account.id))
    exported = harness.call(lambda db: stored_and_exported(db, entries, batch))
    assert exported.count(b"\n") >= len(entries) + 1
    assert exported == reference(entries)

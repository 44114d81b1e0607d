"""PostgreSQL's COPY path formats the contract's CSV cells itself; it must write exactly the bytes
`usagebook.api.entry_csv` writes for the same entries, whatever the text and numbers hold."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.harness import make_settings
from usagebook.api.entry_csv import entry_row
from usagebook.ledger.accounts import create_account
from usagebook.store.engine import Database, create_database
from usagebook.store.entries import EntryFilter
from usagebook.store.export import copy_csv_batches, entry_batches, snapshot
from usagebook.store.rows import NewEntry
from usagebook.store.write import write_batch

# No NUL (PostgreSQL text cannot hold it) and no lone surrogates (not UTF-8).
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=12)
TRICKY = st.sampled_from(["", "=1+1", "+x", "-3", "@a", "\tt", "\rr", 'a"b', "a,b", "l\nm",
                          "'q", " lead", "é€😀", "\\N", "\\.", "NULL"])
CELL_TEXT = TRICKY | TEXT
NANOS = st.integers(min_value=-(10**20), max_value=10**20).map(lambda n: Decimal(n).scaleb(-9))
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
    return st.lists(entry, min_size=1, max_size=25,
                    unique_by=lambda e: (e.request_id, e.sku))


@pytest.fixture(scope="module")
def postgres(database_urls: dict[str, str]) -> Iterator[tuple[asyncio.AbstractEventLoop, Database]]:
    loop = asyncio.new_event_loop()
    database = create_database(make_settings(database_urls["postgresql"]))
    yield loop, database
    loop.run_until_complete(database.dispose())
    loop.close()


async def both_ways(db: Database, account_id: str, batch: int) -> tuple[bytes, bytes]:
    where = EntryFilter(account_id)
    async with snapshot(db) as conn:
        python = b"".join([
            "".join(entry_row(row) for row in rows).encode()
            async for rows in entry_batches(conn, where, None, batch)])
        copied = b"".join([
            b"".join(part.chunks) async for part in copy_csv_batches([conn], where, None, batch)])
    return python, copied


@given(data=st.data(), batch=st.integers(min_value=1, max_value=30))
def test_copy_writes_the_same_bytes_as_the_python_formatter(
    postgres: tuple[asyncio.AbstractEventLoop, Database], data: st.DataObject, batch: int
) -> None:
    loop, db = postgres
    account = loop.run_until_complete(create_account(db, "copy cells"))
    entries = data.draw(entries_for(account.id))

    async def store() -> None:
        async with db.write() as conn:
            await write_batch(conn, entries)

    loop.run_until_complete(store())
    python, copied = loop.run_until_complete(both_ways(db, account.id, batch))
    assert python.count(b"\n") >= len(entries)
    assert copied == python

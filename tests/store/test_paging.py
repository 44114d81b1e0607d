"""Count buckets against plain COUNT and OFFSET: totals and pages are exactly the same.

Random ledgers are stored in random order (ids do not follow timestamps), with ties, entries on
and next to hour boundaries, repeated batches (duplicates are not counted twice) and every
filter combination, on both backends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.harness import Harness
from usagebook.ledger import usage
from usagebook.ledger.catalog import DEMO_CATALOG
from usagebook.ledger.usage import UsageQuery, list_usage
from usagebook.money import charge_amount
from usagebook.store import paging
from usagebook.store.engine import Database
from usagebook.store.entries import EntryFilter, count_entries, list_entries_page
from usagebook.store.rows import NewEntry
from usagebook.store.write import write_batch

H = 3_600_000
D = 24 * H
BASE = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a day boundary
SKU = DEMO_CATALOG[0]
# On, just before and just after day and hour boundaries, over four days; plus anywhere.
BOUNDARY_STAMPS = [BASE + day * D + hour * H + d for day in range(-2, 2)
                   for hour in (-1, 0, 1, 5) for d in (-1, 0, 1)]
stamps = st.one_of(st.sampled_from(BOUNDARY_STAMPS), st.integers(BASE - 2 * D, BASE + 2 * D),
                   st.integers(BASE - 3 * H, BASE + 3 * H))
currencies = st.sampled_from(["USD", "DIEM", "BUNDLED_CREDITS"])
ledgers = st.lists(st.tuples(stamps, currencies), max_size=150)


@dataclass(frozen=True)
class Probe:
    currency: str | None
    start_ms: int | None
    end_ms: int | None
    descending: bool
    offset: int
    limit: int

    def where(self, account_id: str) -> EntryFilter:
        return EntryFilter(account_id, (self.currency,) if self.currency else None,
                           self.start_ms, self.end_ms)


probes = st.builds(
    Probe,
    currency=st.sampled_from([None, "USD", "DIEM", "BUNDLED_CREDITS", "VCU"]),
    start_ms=st.none() | stamps, end_ms=st.none() | stamps, descending=st.booleans(),
    offset=st.integers(0, 160), limit=st.integers(1, 40),
)


def _entry(account_id: str, index: int, ts_ms: int, currency: str) -> NewEntry:
    return NewEntry(account_id=account_id, api_key_id=None, ts_ms=ts_ms, sku=SKU.sku,
                    price_per_unit_usd=SKU.price_per_unit_usd, units=Decimal(1),
                    amount=charge_amount(SKU.price_per_unit_usd, Decimal(1)),
                    currency=currency, request_id=f"r{index}")


def store_ledger(harness: Harness, ledger: list[tuple[int, str]], batches: int) -> str:
    """A fresh account holding `ledger`, written in `batches` batches plus one repeated batch."""
    account_id = harness.tenant("paging").account_id
    made = [_entry(account_id, i, ts, cur) for i, (ts, cur) in enumerate(ledger)]

    async def write(db: Database) -> None:
        size = max(1, -(-len(made) // batches))
        for start in range(0, len(made), size):
            async with db.write() as conn:
                await write_batch(conn, made[start:start + size])
        async with db.write() as conn:  # duplicates: stored at most once, counted once
            await write_batch(conn, made[: len(made) // 2])

    harness.call(write)
    return account_id


@given(ledger=ledgers, batches=st.integers(1, 4), probe_list=st.lists(probes, min_size=1,
                                                                     max_size=6))
def test_bucket_totals_and_pages_equal_count_and_offset(
    harness: Harness, ledger: list[tuple[int, str]], batches: int, probe_list: list[Probe]
) -> None:
    account_id = store_ledger(harness, ledger, batches)

    async def compare(db: Database) -> None:
        async with db.read() as conn:
            for probe in probe_list:
                where = probe.where(account_id)
                assert await paging.count_matching(conn, where) == await count_entries(conn, where)
                plain = await list_entries_page(conn, where, descending=probe.descending,
                                                limit=probe.limit, offset=probe.offset)
                start = await paging.locate_page(
                    conn, where, descending=probe.descending, offset=probe.offset)
                assert start.total == await count_entries(conn, where)
                assert start.offset <= probe.offset
                fast = await list_entries_page(conn, start.where, descending=probe.descending,
                                               limit=probe.limit, offset=start.offset)
                assert [row.id for row in fast] == [row.id for row in plain]

    harness.call(compare)


def _moment(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms is not None else None


@pytest.mark.parametrize("direct_offset", [0, usage.DIRECT_OFFSET])
@given(ledger=ledgers, probe=probes)
def test_usage_pages_equal_count_and_offset(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, direct_offset: int,
    ledger: list[tuple[int, str]], probe: Probe,
) -> None:
    """Through the ledger: with the bucket path forced (0) and as configured."""
    monkeypatch.setattr(usage, "DIRECT_OFFSET", direct_offset)
    account_id = store_ledger(harness, ledger, 2)
    if probe.start_ms is not None and probe.end_ms is not None and probe.start_ms > probe.end_ms:
        probe = Probe(probe.currency, probe.end_ms, probe.start_ms, probe.descending,
                      probe.offset, probe.limit)
    page = probe.offset // probe.limit + 1
    query = UsageQuery(account_id, probe.currency, _moment(probe.start_ms),
                       _moment(probe.end_ms), probe.limit, page, probe.descending)

    async def compare(db: Database) -> None:
        result = await list_usage(db, query)
        where = probe.where(account_id)
        async with db.read() as conn:
            assert result.total == await count_entries(conn, where)
            plain = await list_entries_page(conn, where, descending=probe.descending,
                                            limit=probe.limit, offset=(page - 1) * probe.limit)
        assert [row.id for row in result.entries] == [row.id for row in plain]

    harness.call(compare)


def test_every_offset_of_a_dense_ledger(harness: Harness) -> None:
    """Hundreds of entries over four days, every 13th offset of each filter and order:
    days with many hours are opened, edges are stepped over, ties stay together."""
    rng = random.Random(5)
    ledger = [(rng.choice(BOUNDARY_STAMPS) if rng.random() < 0.3 else
               rng.randrange(BASE - 2 * D, BASE + 2 * D), rng.choice(["USD", "DIEM"]))
              for _ in range(400)]
    account_id = store_ledger(harness, ledger, 3)
    filters = [Probe(None, None, None, True, 0, 1),
               Probe("USD", None, None, True, 0, 1),
               Probe(None, BASE - D - 5 * H + 17, None, True, 0, 1),
               Probe(None, None, BASE + D + 3 * H - 1, True, 0, 1),
               Probe("DIEM", BASE - 2 * D + 7, BASE + D + 90 * 60_000, True, 0, 1),
               Probe(None, BASE + 2 * H + 1, BASE + 20 * H, True, 0, 1)]

    async def compare(db: Database) -> None:
        async with db.read() as conn:
            for probe in filters:
                where = probe.where(account_id)
                total = await count_entries(conn, where)
                assert await paging.count_matching(conn, where) == total
                for descending in (True, False):
                    for offset in range(0, total + 1, 13):
                        plain = await list_entries_page(conn, where, descending=descending,
                                                        limit=5, offset=offset)
                        start = await paging.locate_page(
                            conn, where, descending=descending, offset=offset)
                        assert start.total == total
                        fast = await list_entries_page(conn, start.where, descending=descending,
                                                       limit=5, offset=start.offset)
                        assert [r.id for r in fast] == [r.id for r in plain], (probe, offset)

    harness.call(compare)

"""An entry stored by a writer that skips the account lock, while a batch carrying the same
(account, requestId, sku) is being recorded: the database's unique constraint has the last
word, the batch is run again, and the event is answered as the repeat it is (both backends).

On PostgreSQL recording reads the stored originals, then inserts without ON CONFLICT; here the
bypassing transaction holds the key uncommitted, so the insert waits on it, then fails on the
unique constraint, and recording must retry. On SQLite the second writer simply waits for the
first (write transactions are exclusive) and reads the original."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sqlalchemy import text

from tests.support.harness import Harness, Tenant
from tests.support.recording import IMAGE, audit_clean, entries_by_id
from usagebook.ledger.catalog import DEMO_CATALOG
from usagebook.ledger.events import Event
from usagebook.ledger.recording import EventResult, record
from usagebook.money import charge_amount
from usagebook.store.engine import Database
from usagebook.store.rows import NewEntry
from usagebook.store.write import write_batch
from usagebook.timeutil import now_ms

SENT = frozenset({"request_id", "sku", "units", "account_id", "ts_ms"})
PRICE = next(row.price_per_unit_usd for row in DEMO_CATALOG if row.sku == IMAGE)


async def _until_waiting_on_a_lock(db: Database) -> None:
    """Until some other backend waits on a lock (the recording insert on the held key)."""
    for _ in range(200):
        async with db.read() as conn:
            waiting = await conn.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"))
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the recording batch never waited on the held key")


def test_a_key_stored_by_a_lock_bypassing_writer_is_answered_as_a_repeat(
    harness: Harness, tenant: Tenant
) -> None:
    stamp = now_ms() - 60_000
    units = Decimal(2)

    async def work(db: Database) -> list[EventResult]:
        bypassing = NewEntry(tenant.account_id, None, stamp, IMAGE, PRICE, units,
                             charge_amount(PRICE, units), "USD", "race-1")
        async with db.write() as conn:
            await write_batch(conn, [bypassing])  # holds the key, not committed yet
            recording = asyncio.create_task(record(db, [
                Event(request_id, IMAGE, units, account_id=tenant.account_id, ts_ms=stamp,
                      sent=SENT)
                for request_id in ("race-1", "race-2")
            ]))
            if db.is_sqlite:
                await asyncio.sleep(0.3)
            else:
                await _until_waiting_on_a_lock(db)
            assert not recording.done()
        return await recording

    results = harness.call(work)
    assert [r.status for r in results] == ["duplicate", "recorded"]
    stored = entries_by_id(harness, tenant.account_id)
    assert sorted(e.request_id for e in stored) == ["race-1", "race-2"]
    assert results[0].entry.request_id == "race-1"
    audit_clean(harness, tenant.account_id)

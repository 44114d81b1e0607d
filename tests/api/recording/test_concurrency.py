"""8 concurrent writers, 20,000 events with 10% deliberate repeats, one account, both backends:
every distinct event is stored once, repeats answer `duplicate`, balances reconcile exactly, and
each charge's currency is the one the consumption order gives when replayed in id order.

The full size runs every time (about 20 s per backend on 2 cores); RECORDING_CONCURRENCY_EVENTS
may raise it, never lower it below the contract's 20,000.
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from tests.support.harness import Harness, Tenant
from tests.support.recording import (
    audit_clean,
    event,
    grant,
    post_events,
    replay_currencies,
    set_diem,
)
from usagebook.money import charge_amount
from usagebook.store.engine import Database
from usagebook.store.entries import EntryFilter, list_entries_page
from usagebook.store.rows import EntryRow

WRITERS = 8
EVENTS = max(20_000, int(os.environ.get("RECORDING_CONCURRENCY_EVENTS", "20000")))
BATCH = 250
PRICE = Decimal("0.01")  # the image SKU's price per unit
DIEM, BUNDLED, USD = Decimal(20), Decimal(30), Decimal(50)


def _workload(account_id: str) -> list[list[dict[str, Any]]]:
    rng = random.Random(2026)
    distinct = EVENTS * 9 // 10
    events = [event(f"cc-{i}", account_id, str(rng.randint(1, 9))) for i in range(distinct)]
    repeats = [dict(rng.choice(events)) for _ in range(EVENTS - distinct)]
    mixed = events + repeats
    rng.shuffle(mixed)
    return [mixed[i : i + BATCH] for i in range(0, len(mixed), BATCH)]


def _send(harness: Harness, batch: list[dict[str, Any]]) -> list[tuple[str, str]]:
    answer = post_events(harness, batch)
    assert answer.status_code == 200, answer.text
    return [
        (r["entry"]["inferenceDetails"]["requestId"], r["status"]) for r in answer.json()["results"]
    ]


def _entries(harness: Harness, account_id: str) -> list[EntryRow]:
    async def work(db: Database) -> list[EntryRow]:
        async with db.read() as conn:
            return await list_entries_page(
                conn, EntryFilter(account_id), descending=False, limit=EVENTS + 1, offset=0
            )

    return sorted(harness.call(work), key=lambda row: row.id)


def test_concurrent_writers_record_each_event_once(harness: Harness, tenant: Tenant) -> None:
    set_diem(harness, tenant.account_id, str(DIEM))
    grant(harness, tenant.account_id, "BUNDLED_CREDITS", str(BUNDLED))
    grant(harness, tenant.account_id, "USD", str(USD))
    batches = _workload(tenant.account_id)
    with ThreadPoolExecutor(WRITERS) as pool:
        answers = [
            pair for batch in pool.map(lambda b: _send(harness, b), batches) for pair in batch
        ]
    assert len(answers) == EVENTS
    recorded: dict[str, int] = {}
    for request_id, status in answers:
        assert status in ("recorded", "duplicate"), (request_id, status)
        recorded[request_id] = recorded.get(request_id, 0) + (status == "recorded")
    distinct = EVENTS * 9 // 10
    assert len(recorded) == distinct and set(recorded.values()) == {1}
    assert sum(status == "duplicate" for _, status in answers) == EVENTS - distinct

    entries = _entries(harness, tenant.account_id)
    assert sorted(e.request_id for e in entries) == sorted(recorded)
    assert all(e.amount == charge_amount(PRICE, e.units) for e in entries)
    audit_clean(harness, tenant.account_id)
    currencies = [e.currency for e in entries]
    assert currencies == replay_currencies(entries, DIEM, {"BUNDLED_CREDITS": BUNDLED, "USD": USD})
    assert {"DIEM", "BUNDLED_CREDITS", "USD"} <= set(currencies)  # every currency was reached
    credits = harness.get("/api/v1/billing/credits", tenant).json()
    spent = {
        c: sum((-e.amount for e in entries if e.currency == c), Decimal(0))
        for c in ("USD", "BUNDLED_CREDITS")
    }
    assert Decimal(str(credits["balances"]["USD"])) == USD - spent["USD"] < 0
    assert (
        Decimal(str(credits["balances"]["BUNDLED_CREDITS"])) == BUNDLED - spent["BUNDLED_CREDITS"]
    )

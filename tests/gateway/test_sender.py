"""The durable queue and its sender against a real ledger: records leave the queue only when
the ledger has them, the ledger's refusals are learned from or set aside, never retried
forever, and a repeat never charges twice."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path

from tests.support.gateway import CACHED_MODEL, MODEL, Customer, Ledger
from tests.support.harness import OPERATOR_TOKEN
from tests.support.servers import free_port
from usagebook.gateway.ledger_client import LedgerClient
from usagebook.gateway.queue import UsageQueue
from usagebook.gateway.records import UsageRecord
from usagebook.gateway.sender import UsageSender
from usagebook.gateway.usage import Kind, Usage


def make(customer: Customer, n: int, usage: Usage, model: str = MODEL,
         key_id: str | None = None) -> UsageRecord:
    return UsageRecord.of(
        usage, request_id=f"gw_test_{customer.account_id}_{n}", model=model, kind=Kind.CHAT,
        api_key_id=key_id or customer.key_id, hold_id=None, execution_ms=5,
        timestamp=_now(), upstream_id=f"up-{n}")


def _now() -> str:
    from usagebook.timeutil import format_ms, now_ms

    return format_ms(now_ms())


async def drain(queue: UsageQueue, ledger_url: str, rounds: int = 10) -> list[int | None]:
    client = LedgerClient(ledger_url, OPERATOR_TOKEN, timeout=10)
    sender = UsageSender(queue, client)
    progress = []
    try:
        for _ in range(rounds):
            step = await sender.send_batch()
            progress.append(step)
            if step == 0:
                break
    finally:
        await client.aclose()
    return progress


def test_records_reach_the_ledger_once_and_leave_the_queue(ledger: Ledger,
                                                            tmp_path: Path) -> None:
    customer = ledger.customer()
    records = [make(customer, n, Usage(100 + n, 20 + n)) for n in range(5)]

    async def scenario() -> tuple[int, int]:
        queue = UsageQueue(tmp_path / "q.db")
        await queue.open()
        for record in records:
            await queue.put(record)
        await queue.put(records[0])  # the same request again: one row
        assert await queue.counts() == (5, 0)
        await drain(queue, ledger.url)
        # A record sent again (an acknowledgement lost) is a duplicate at the ledger.
        await queue.put(records[1])
        await drain(queue, ledger.url)
        counts = await queue.counts()
        await queue.close()
        return counts

    assert asyncio.run(scenario()) == (0, 0)
    entries = ledger.entries(customer)
    assert len(entries) == 10  # input and output of each of the five requests
    by_request: dict[str, dict[str, Decimal]] = {}
    for entry in entries:
        details = entry["inferenceDetails"]
        by_request.setdefault(details["requestId"], {})[entry["sku"]] = Decimal(
            str(entry["units"]))
        assert entry["notes"].startswith("upstream id up-")
    for n, record in enumerate(records):
        assert by_request[record.request_id] == {
            f"{MODEL}-llm-input-mtoken": Decimal(100 + n) / 10**6,
            f"{MODEL}-llm-output-mtoken": Decimal(20 + n) / 10**6}


def test_an_unreachable_ledger_keeps_everything_queued(tmp_path: Path, ledger: Ledger) -> None:
    customer = ledger.customer()

    async def scenario() -> tuple[list[int | None], tuple[int, int]]:
        queue = UsageQueue(tmp_path / "q.db")
        await queue.open()
        await queue.put(make(customer, 1, Usage(10, 10)))
        progress = await drain(queue, f"http://127.0.0.1:{free_port()}", rounds=1)
        counts = await queue.counts()
        await queue.close()
        return progress, counts

    assert asyncio.run(scenario()) == ([None], (1, 0))
    # The file is a plain WAL SQLite database: the record is there for the next gateway.
    with sqlite3.connect(tmp_path / "q.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM pending").fetchone()[0] == 1


def test_unpriced_cache_reads_are_learned_and_bad_records_set_aside(
        ledger: Ledger, tmp_path: Path) -> None:
    customer = ledger.customer()
    cached_unpriced = make(customer, 1, Usage(1000, 10, cached_tokens=600))  # llama: no price
    cached_priced = make(customer, 2, Usage(1000, 10, cached_tokens=600), model=CACHED_MODEL)
    unknown_key = make(customer, 3, Usage(5, 5), key_id="key_doesnotexist")

    async def scenario() -> tuple[int, int]:
        queue = UsageQueue(tmp_path / "q.db")
        await queue.open()
        for record in (cached_unpriced, unknown_key, cached_priced):
            await queue.put(record)
        await drain(queue, ledger.url)
        counts = await queue.counts()
        await queue.close()
        return counts

    assert asyncio.run(scenario()) == (0, 1)  # the unknown key's record is in `dead`
    units = {(e["inferenceDetails"]["requestId"], e["sku"]): Decimal(str(e["units"]))
             for e in ledger.entries(customer)}
    assert units == {
        (cached_unpriced.request_id, f"{MODEL}-llm-input-mtoken"): Decimal("0.001"),
        (cached_unpriced.request_id, f"{MODEL}-llm-output-mtoken"): Decimal("0.00001"),
        (cached_priced.request_id, f"{CACHED_MODEL}-llm-input-mtoken"): Decimal("0.0004"),
        (cached_priced.request_id, f"{CACHED_MODEL}-llm-cache-read-mtoken"): Decimal("0.0006"),
        (cached_priced.request_id, f"{CACHED_MODEL}-llm-output-mtoken"): Decimal("0.00001"),
    }
    with sqlite3.connect(tmp_path / "q.db") as conn:
        (reason,) = conn.execute("SELECT reason FROM dead").fetchone()
    assert reason.startswith("apiKeyId refused")

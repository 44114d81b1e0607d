"""Helpers for recording tests: events as the platform sends them, and the operator's calls."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.support.harness import OPERATOR_TOKEN, Harness
from usagebook.ledger import balances
from usagebook.store.engine import Database
from usagebook.store.entries import EntryFilter, list_entries_page
from usagebook.store.rows import EntryRow
from usagebook.timeutil import MS_PER_DAY

EVENTS_PATH = "/api/v1/usage/events"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
LLAMA_IN = "llama-3.3-70b-llm-input-mtoken"  # 0.7 USD per million tokens
IMAGE = "flux-dev-image-unit"  # 0.01 USD per image


def event(
    request_id: str, account_id: str, units: Any = "1", sku: str = IMAGE, **extra: Any
) -> dict[str, Any]:
    return {"requestId": request_id, "sku": sku, "units": units, "accountId": account_id, **extra}


def post_events(harness: Harness, events: list[dict[str, Any]], **kwargs: Any) -> Any:
    headers = kwargs.pop("headers", OPERATOR)
    return harness.client.post(EVENTS_PATH, json={"events": events}, headers=headers, **kwargs)


def record_ok(harness: Harness, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = post_events(harness, events)
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["results"]
    return results


def grant(harness: Harness, account_id: str, currency: str, amount: str) -> None:
    async def work(db: Database) -> None:
        await balances.grant_credit(db, account_id, currency, amount, "test grant")

    harness.call(work)


def set_diem(harness: Harness, account_id: str, allocation: str | None) -> None:
    async def work(db: Database) -> None:
        await balances.set_diem_allocation(db, account_id, allocation)

    harness.call(work)


def audit_clean(harness: Harness, account_id: str) -> None:
    result = harness.call(lambda db: balances.audit(db, account_id))
    assert result.mismatches == []


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


def replay_currencies(
    entries: list[EntryRow], diem_per_day: Decimal, credits: dict[str, Decimal]
) -> list[str]:
    """The currency each entry should have by the consumption order, deciding in the order
    given (ids are handed out under the account lock, so id order is decision order)."""
    left = dict(credits)
    diem_used: dict[int, Decimal] = {}
    expected = []
    for entry in entries:
        day = entry.ts_ms // MS_PER_DAY
        charge = -entry.amount
        if diem_per_day - diem_used.get(day, Decimal(0)) > 0:
            diem_used[day] = diem_used.get(day, Decimal(0)) + charge
            expected.append("DIEM")
            continue
        currency = next((c for c in ("BUNDLED_CREDITS", "USD") if left.get(c, 0) > 0), "USD")
        left[currency] = left.get(currency, Decimal(0)) - charge
        expected.append(currency)
    return expected


def entries_by_id(harness: Harness, account_id: str, limit: int = 100_000) -> list[EntryRow]:
    async def work(db: Database) -> list[EntryRow]:
        async with db.read() as conn:
            return await list_entries_page(
                conn, EntryFilter(account_id), descending=False, limit=limit, offset=0
            )

    return sorted(harness.call(work), key=lambda row: row.id)


def named_problem(answer: Any, path: str) -> list[str]:
    """The messages of a DetailedError at `path` (nested per dotted segment)."""
    node = answer.json()["details"]
    for segment in path.split("."):
        node = node[segment]
    messages: list[str] = node["_errors"]
    return messages

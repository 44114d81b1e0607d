"""Helpers for recording tests: events as the platform sends them, and the operator's calls."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.conftest import OPERATOR_TOKEN, Harness
from usagebook.ledger import balances
from usagebook.store.engine import Database

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

"""Limit alerts (both backends, a real receiver verifying with standardwebhooks): a key's limit
thresholds and an account's monthly ones, one event per threshold and period whatever the
concurrency of the writers, and key.limit.reset when a key that reached its limit enters a new
window."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.support.harness import Harness, Tenant
from tests.support.receiver import Receiver, wait_until
from tests.support.webhooks import grant, subscribe
from usagebook.ledger.events import Event
from usagebook.ledger.key_usage import LimitPeriod
from usagebook.ledger.keys import KeyLimits, KeyOptions, KeyType, create_key
from usagebook.ledger.limit_resets import raise_resets
from usagebook.ledger.recording import record
from usagebook.store.engine import Database
from usagebook.timeutil import MS_PER_DAY, format_ms, now_ms

IMAGE = "flux-dev-image-unit"  # 0.01 USD each
KEY_EVENTS = ("key.limit.threshold_crossed", "key.limit.reached", "key.limit.reset")
ACCOUNT_EVENTS = ("account.limit.threshold_crossed", "account.limit.reached")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def _limited_key(harness: Harness, tenant: Tenant, usd: str, period: LimitPeriod) -> str:
    async def make(db: Database) -> str:
        options = KeyOptions("limited", limits=KeyLimits(usd=Decimal(usd)), limit_period=period)
        return (await create_key(db, tenant.account_id, KeyType.INFERENCE,
                                 options=options)).row.id

    return harness.call(make)


def _spend(harness: Harness, prefix: str, dollars: list[int], *, key_id: str | None = None,
           account_id: str | None = None) -> None:
    """One recording per amount, all at once (concurrent writers)."""
    async def work(db: Database) -> None:
        await asyncio.gather(*(record(db, [Event(f"{prefix}{i}", IMAGE, Decimal(usd * 100),
                                                  api_key_id=key_id, account_id=account_id)])
                               for i, usd in enumerate(dollars)))

    harness.call(work)


def _payloads(receiver: Receiver, count: int, secret: str) -> list[dict[str, Any]]:
    return sorted((r.verified(secret) for r in receiver.wait_for(count)),
                  key=lambda p: (p["type"] != "key.limit.reset", p["data"].get("threshold", 0)))


def _month_start() -> str:
    today = datetime.now(UTC)
    return datetime(today.year, today.month, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_key_limit_thresholds_once_each(harness: Harness, tenant: Tenant,
                                        receiver: Receiver) -> None:
    hook = subscribe(harness, tenant, receiver.url, *KEY_EVENTS)
    grant(harness, tenant.account_id, "USD", "100")
    key_id = _limited_key(harness, tenant, "10", LimitPeriod.MONTH)
    _spend(harness, "a", [4], key_id=key_id)  # 40%: nothing
    _spend(harness, "b", [2], key_id=key_id)  # 60%: 50 crossed
    first = _payloads(receiver, 1, hook["secret"])[0]
    assert first == {"type": "key.limit.threshold_crossed", "timestamp": first["timestamp"],
                     "data": {"accountId": tenant.account_id, "apiKeyId": key_id,
                              "currency": "USD", "threshold": 50, "limit": "10",
                              "periodUsage": "6", "limitPeriod": "MONTH",
                              "periodStart": _month_start()}}
    _spend(harness, "c", [1] * 12, key_id=key_id)  # twelve writers take it to 180%
    payloads = _payloads(receiver, 3, hook["secret"])
    assert [(p["type"], p["data"]["threshold"]) for p in payloads] == [
        ("key.limit.threshold_crossed", 50), ("key.limit.threshold_crossed", 80),
        ("key.limit.reached", 100)]
    assert Decimal(payloads[2]["data"]["periodUsage"]) >= 10
    _spend(harness, "d", [1], key_id=key_id)
    _settled(harness, tenant, hook["id"], 3)
    assert len(receiver.requests) == 3


def test_account_limit_thresholds(harness: Harness, tenant: Tenant, receiver: Receiver) -> None:
    hook = subscribe(harness, tenant, receiver.url, *ACCOUNT_EVENTS)
    assert harness.client.put("/api/v1/alerts", headers=tenant.admin,
                              json={"keyThresholds": [90, 100]}).status_code == 200
    answer = harness.client.put("/api/v1/billing/limits", headers=tenant.admin,
                                json={"monthlyUsd": "20"})
    assert answer.status_code == 200, answer.text
    _spend(harness, "m", [5, 5, 5, 4], account_id=tenant.account_id)  # 19: 95%
    got = _payloads(receiver, 1, hook["secret"])[0]
    assert got["type"] == "account.limit.threshold_crossed"
    assert got["data"] == {"accountId": tenant.account_id, "currency": "USD", "threshold": 90,
                           "limit": "20", "periodUsage": got["data"]["periodUsage"],
                           "limitPeriod": "MONTH", "periodStart": _month_start()}
    assert Decimal(got["data"]["periodUsage"]) >= 18
    _spend(harness, "n", [1, 1], account_id=tenant.account_id)
    reached = _payloads(receiver, 2, hook["secret"])[1]
    assert (reached["type"], reached["data"]["threshold"]) == ("account.limit.reached", 100)
    _settled(harness, tenant, hook["id"], 2)


def test_a_key_that_reached_its_limit_is_reset_in_the_next_window(
    harness: Harness, tenant: Tenant, receiver: Receiver
) -> None:
    hook = subscribe(harness, tenant, receiver.url, "key.limit.reset")
    key_id = _limited_key(harness, tenant, "1", LimitPeriod.EPOCH)
    _spend(harness, "r", [2], key_id=key_id)  # today's limit reached
    tomorrow = now_ms() - now_ms() % MS_PER_DAY + MS_PER_DAY

    # The scans cover every key of the database (other tests' too): count this key's events
    # at the receiver, which hears only this account.
    async def scans(db: Database) -> None:
        await raise_resets(db, now_ms())  # still today: nothing to reset for this key
        await asyncio.gather(*(raise_resets(db, tomorrow + 5) for _ in range(3)))
        await raise_resets(db, tomorrow + 60_000)

    harness.call(scans)
    got = _payloads(receiver, 1, hook["secret"])[0]
    assert got["data"] == {"accountId": tenant.account_id, "apiKeyId": key_id,
                           "limitPeriod": "EPOCH", "periodStart": format_ms(tomorrow)}
    _settled(harness, tenant, hook["id"], 1)
    assert len(receiver.requests) == 1


def _settled(harness: Harness, tenant: Tenant, webhook_id: str, count: int) -> None:
    def done() -> bool:
        rows = harness.get(f"/api/v1/webhooks/{webhook_id}/deliveries", tenant).json()["data"]
        return len(rows) == count and all(r["status"] == "delivered" for r in rows)

    wait_until(done, what=f"{count} delivered rows")

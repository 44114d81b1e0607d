"""A key's status (`rate_limits`), the refusal log, the creation caps, and the usage figures of
the key objects (exact, four decimals, truncated), on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.admission import Customer
from tests.support.clock import FrozenClock
from tests.support.factories import store_entries
from tests.support.harness import Harness, Tenant
from tests.support.keys import KEYS, bearer, create, problems, venice_errors
from usagebook.app import create_app
from usagebook.ledger.balances import grant_credit, set_diem_allocation
from usagebook.ledger.keys import MAX_ACTIVE_KEYS, KeyType, create_key
from usagebook.ledger.ratelimit import RateLimiter
from usagebook.store import ratelimit_log
from usagebook.store.engine import Database
from usagebook.store.rows import NewEntry
from usagebook.timeutil import MS_PER_DAY, format_ms, now_ms

STATUS = KEYS + "/rate_limits"
LOG = KEYS + "/rate_limits/log"


def _status(harness: Harness, secret: str) -> dict[str, Any]:
    answer = harness.client.get(STATUS, headers=bearer(secret))
    assert answer.status_code == 200, answer.text
    assert venice_errors("apiKeysRateLimits", answer.json()) == []
    data: dict[str, Any] = answer.json()["data"]
    return data


def _spend(harness: Harness, tenant: Tenant, key_id: str, *charges: tuple[str, str]) -> None:
    """Store charges (currency, amount spent) of `key_id`, now."""
    at = now_ms()
    entries = [NewEntry(tenant.account_id, key_id, at, "llama-3.3-70b-llm-input-mtoken",
                        Decimal(1), Decimal(spent), -Decimal(spent), currency,
                        f"spend-{at}-{n}")
               for n, (currency, spent) in enumerate(charges)]
    harness.call(lambda db: store_entries(db, entries))


def _limit(harness: Harness, tenant: Tenant, key_id: str, **limits: Any) -> None:
    answer = harness.client.patch(KEYS, headers=tenant.admin,
                                  json={"id": key_id, "consumptionLimit": limits})
    assert answer.status_code == 200, answer.text


def test_the_status_of_a_key(harness: Harness, tenant: Tenant) -> None:
    data = _status(harness, tenant.inference_key)
    assert set(data) == {"accessPermitted", "apiTier", "balances", "keyExpiration",
                         "nextEpochBegins", "rateLimits"}
    assert data["apiTier"] == {"id": "paid", "isCharged": True}
    assert data["keyExpiration"] is None
    tomorrow = (now_ms() // MS_PER_DAY + 1) * MS_PER_DAY
    assert data["nextEpochBegins"] in (format_ms(tomorrow - MS_PER_DAY), format_ms(tomorrow))
    # Nothing to spend: access is not permitted.
    assert (data["accessPermitted"], data["balances"]) == (False, {"USD": 0, "DIEM": 0})
    harness.call(lambda db: grant_credit(db, tenant.account_id, "USD", "10.5"))
    data = _status(harness, tenant.inference_key)
    assert (data["accessPermitted"], data["balances"]) == (True, {"USD": 10.5, "DIEM": 0})


def test_access_follows_the_limit_of_the_next_charges_currency(
    harness: Harness, tenant: Tenant
) -> None:
    key = tenant.inference_key_id
    harness.call(lambda db: grant_credit(db, tenant.account_id, "USD", "100"))
    _limit(harness, tenant, key, usd=0)
    assert _status(harness, tenant.inference_key)["accessPermitted"] is False  # 0 forbids
    _limit(harness, tenant, key, usd=2)
    _spend(harness, tenant, key, ("USD", "1.5"))
    assert _status(harness, tenant.inference_key)["accessPermitted"] is True
    _spend(harness, tenant, key, ("BUNDLED_CREDITS", "0.5"))  # USD + bundled reach the limit
    assert _status(harness, tenant.inference_key)["accessPermitted"] is False
    # With a DIEM allocation the next charge is DIEM: the USD limit no longer decides.
    harness.call(lambda db: set_diem_allocation(db, tenant.account_id, "5"))
    assert _status(harness, tenant.inference_key)["accessPermitted"] is True
    _limit(harness, tenant, key, diem=0)
    assert _status(harness, tenant.inference_key)["accessPermitted"] is False
    # Another key of the account is not limited by this one's spend.
    assert _status(harness, tenant.admin_key)["accessPermitted"] is True


def test_usage_figures_are_exact_truncated_to_four_decimals(
    harness: Harness, tenant: Tenant
) -> None:
    key = tenant.inference_key_id
    _limit(harness, tenant, key, diem=100)
    _spend(harness, tenant, key, ("USD", "1.00009998"), ("BUNDLED_CREDITS", "0.00000001"),
           ("DIEM", "2.99999"))
    _spend(harness, tenant, tenant.admin_key_id, ("USD", "7"))  # another key's: not counted
    answer = harness.client.get(f"{KEYS}/{key}", headers=tenant.admin).json()["data"]
    # 1.00009999 USD (USD and bundled together) is written 1.0000, never rounded up.
    assert answer["usage"]["trailingSevenDays"] == {"usd": "1.0000", "vcu": "0.0000",
                                                    "diem": "2.9999"}
    assert answer["currentPeriodUsage"] == {"usd": "1.0000", "diem": "2.9999"}
    _spend(harness, tenant, key, ("USD", "0.00000001"))
    again = harness.client.get(f"{KEYS}/{key}", headers=tenant.admin).json()["data"]
    assert again["currentPeriodUsage"]["usd"] == "1.0001"


@pytest.fixture
def limited(harness: Harness) -> Iterator[TestClient]:
    """An app of its own with 2 requests a minute per key, on a frozen clock."""
    settings = replace(harness.settings, rate_limit_per_minute=2)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        state: Any = client.app.state  # type: ignore[attr-defined]
        state.rate_limiter = RateLimiter(2, clock=FrozenClock(6_000_030.0))
        state.key_creation_limiter = RateLimiter(20, clock=FrozenClock(6_000_030.0))
        yield client


def test_rate_limit_refusals_are_logged_for_the_account(
    limited: TestClient, harness: Harness, tenant: Tenant
) -> None:
    assert limited.get(LOG, headers=tenant.admin).json() == {"object": "list", "data": []}
    inference = bearer(tenant.inference_key)
    statuses = [limited.get(STATUS, headers=inference).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    other = harness.tenant("other")
    answer = limited.get(LOG, headers=tenant.admin)
    assert answer.status_code == 200
    assert venice_errors("apiKeysRateLimitLog", answer.json()) == []
    [refusal] = answer.json()["data"]
    assert {k: v for k, v in refusal.items() if k != "timestamp"} == {
        "apiKeyId": tenant.inference_key_id, "modelId": "*", "rateLimitTier": "paid",
        "rateLimitType": "RPM"}
    assert limited.get(LOG, headers=other.admin).json()["data"] == []
    status = _status(harness, tenant.admin_key)  # the harness's app has no limit
    assert status["rateLimits"] == []
    limited_status = limited.get(STATUS, headers=other.admin).json()["data"]
    assert limited_status["rateLimits"] == [
        {"apiModelId": "*", "rateLimits": [{"amount": 2, "type": "RPM"}]}]


def test_the_log_keeps_the_newest_fifty(harness: Harness, tenant: Tenant) -> None:
    async def log(db: Database) -> None:
        for n in range(60):
            refusal = ratelimit_log.Refusal(f"key_{n}", "*", "paid", "RPM", 1_000 + n)
            async with db.write() as conn:
                await ratelimit_log.add_refusal(conn, tenant.account_id, refusal)

    harness.call(log)
    data = harness.client.get(LOG, headers=tenant.admin).json()["data"]
    assert [entry["apiKeyId"] for entry in data] == [f"key_{n}" for n in range(59, 9, -1)]


def test_creation_is_limited_to_20_a_minute_per_account(
    limited: TestClient, harness: Harness
) -> None:
    limited.app.state.rate_limiter = RateLimiter(0)  # type: ignore[attr-defined]
    tenant, other = harness.tenant("creator"), harness.tenant("neighbour")
    body = {"apiKeyType": "INFERENCE", "description": "many"}
    second = limited.post(KEYS, headers=tenant.admin, json={**body, "apiKeyType": "ADMIN"})
    second_admin = bearer(second.json()["data"]["apiKey"])
    for n in range(19):
        # Also with a second ADMIN key of the account: the cap is per account, not per key.
        headers = tenant.admin if n % 2 else second_admin
        assert limited.post(KEYS, headers=headers, json=body).status_code == 200
    refused = limited.post(KEYS, headers=tenant.admin, json=body)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "30"
    assert venice_errors("standardError", refused.json()) == []
    assert limited.post(KEYS, headers=other.admin, json=body).status_code == 200


def test_an_account_has_at_most_500_active_keys_however_made(
    harness: Harness, tenant: Tenant
) -> None:
    async def fill(db: Database) -> None:
        for n in range(MAX_ACTIVE_KEYS - 3):  # the tenant has two; one more over HTTP
            await create_key(db, tenant.account_id, KeyType.INFERENCE, f"k{n}")

    harness.call(fill)
    create(harness, tenant)
    refused = harness.client.post(KEYS, headers=tenant.admin,
                                  json={"apiKeyType": "ADMIN", "description": "501st"})
    assert problems(refused)["_errors"] == ["An account may have at most 500 active API keys"]
    assert harness.client.delete(KEYS, params={"id": tenant.inference_key_id},
                                 headers=tenant.admin).status_code == 200
    create(harness, tenant)


def test_live_holds_count_as_authorize_counts_them(harness: Harness) -> None:
    customer = Customer(harness, usd="2")
    assert _status(harness, customer.secret)["accessPermitted"] is True
    granted = customer.authorize({"amount": "1.5"})
    assert granted.status_code == 200, granted.text
    assert _status(harness, customer.secret)["accessPermitted"] is True  # 0.5 left
    assert customer.authorize({"amount": "0.5"}).status_code == 200
    assert _status(harness, customer.secret)["accessPermitted"] is False  # all of it held

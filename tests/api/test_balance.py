"""GET /billing/balance (Venice's schema) and GET /billing/credits (usagebook's own)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.support.harness import Harness, Tenant
from tests.support.recording import event, grant, record_ok, set_diem

SCHEMAS = json.loads((Path(__file__).parents[1] / "contract" / "venice_schemas.json").read_text())


@pytest.mark.parametrize("setup", ["nothing", "diem", "all", "spent"])
def test_balance_validates_against_venices_schema(
    harness: Harness, tenant: Tenant, setup: str
) -> None:
    if setup in ("diem", "all", "spent"):
        set_diem(harness, tenant.account_id, "100")
    if setup in ("all", "spent"):
        grant(harness, tenant.account_id, "USD", "25")
        grant(harness, tenant.account_id, "BUNDLED_CREDITS", "3.5")
    if setup == "spent":
        record_ok(harness, [event("s1", tenant.account_id, "1000000")])  # 10,000 USD
    answer = harness.get("/api/v1/billing/balance", tenant)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    jsonschema.validate(body, SCHEMAS["balance"])
    expected = {
        "nothing": (False, None, None, 0, 0),
        "diem": (True, "DIEM", 100, 0, 100),
        "all": (True, "DIEM", 100, 25, 100),
        "spent": (True, "BUNDLED_CREDITS", -9900, 25, 100),
    }[setup]
    assert (
        body["canConsume"],
        body["consumptionCurrency"],
        body["balances"]["diem"],
        body["balances"]["usd"],
        body["diemEpochAllocation"],
    ) == expected


def test_credits_lists_every_currency_and_grants_newest_first(
    harness: Harness, tenant: Tenant
) -> None:
    grant(harness, tenant.account_id, "USD", "10")
    grant(harness, tenant.account_id, "BUNDLED_CREDITS", "2.5")
    grant(harness, tenant.account_id, "USD", "-1.25")
    answer = harness.get("/api/v1/billing/credits", tenant)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"balances", "diemEpochAllocation", "grants"}
    assert body["balances"] == {"USD": 8.75, "BUNDLED_CREDITS": 2.5, "DIEM": None}
    assert body["diemEpochAllocation"] == 0
    assert [(g["currency"], g["amount"], g["notes"]) for g in body["grants"]] == [
        ("USD", -1.25, "test grant"),
        ("BUNDLED_CREDITS", 2.5, "test grant"),
        ("USD", 10, "test grant"),
    ]
    assert all(g["timestamp"].endswith("Z") for g in body["grants"])


@pytest.mark.parametrize("path", ["/api/v1/billing/balance", "/api/v1/billing/credits"])
def test_balances_need_an_admin_key(harness: Harness, tenant: Tenant, path: str) -> None:
    inference = harness.get(path, headers={"Authorization": f"Bearer {tenant.inference_key}"})
    assert inference.status_code == 401
    assert inference.json() == {"error": "Admin API key required"}
    assert harness.get(path).status_code == 401


def test_balances_are_scoped_to_the_keys_account(harness: Harness, tenant: Tenant) -> None:
    other = harness.tenant("other")
    grant(harness, other.account_id, "USD", "99")
    assert harness.get("/api/v1/billing/balance", tenant).json()["balances"]["usd"] == 0
    assert harness.get("/api/v1/billing/credits", tenant).json()["grants"] == []

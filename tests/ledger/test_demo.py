"""The demo goes through the recording path: its balances reconcile and its currencies follow
the consumption order (DIEM per UTC day, then bundled credits, then USD)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import jsonschema

from tests.support.harness import Harness
from tests.support.recording import audit_clean, entries_by_id, replay_currencies
from usagebook.ledger.demo import DIEM_PER_DAY, GRANTS, create_demo
from usagebook.ledger.keys import authenticate

SCHEMAS = json.loads((Path(__file__).parents[1] / "contract" / "venice_schemas.json").read_text())


def test_demo_records_through_the_consumption_order(harness: Harness) -> None:
    made = harness.call(lambda db: create_demo(db, 4000, seed=3))
    entries = entries_by_id(harness, made.account_id)
    assert len(entries) == 4000
    credits = {
        c: sum((Decimal(a) for cur, a, _ in GRANTS if cur == c), Decimal(0))
        for c in ("USD", "BUNDLED_CREDITS")
    }
    assert [e.currency for e in entries] == replay_currencies(
        entries, Decimal(DIEM_PER_DAY), credits
    )
    assert [e.ts_ms for e in entries] == sorted(e.ts_ms for e in entries)  # oldest first
    audit_clean(harness, made.account_id)
    caller = harness.call(lambda db: authenticate(db, made.admin_key))
    assert caller.account_id == made.account_id
    headers = {"Authorization": f"Bearer {made.admin_key}"}
    balance = harness.client.get("/api/v1/billing/balance", headers=headers).json()
    jsonschema.validate(balance, SCHEMAS["balance"])
    assert balance["diemEpochAllocation"] == 10 and balance["canConsume"]
    grants = harness.client.get("/api/v1/billing/credits", headers=headers).json()["grants"]
    assert len(grants) == len(GRANTS)

"""A batch that would take a balance or usage total past what its column holds (SQLite keeps
nano-units in 64-bit integers: 9223372036.854775807) is refused whole with a 400 naming the
event from which it overflows; PostgreSQL's NUMERIC totals hold such batches."""

from __future__ import annotations

from typing import Any

from tests.support.harness import Harness, Tenant
from tests.support.recording import IMAGE, event, post_events

UNITS = "999999999"  # each event adds 999999999 * 10**9 nano-units to its units totals


def batch(tenant: Tenant, prefix: str, count: int) -> list[dict[str, Any]]:
    return [event(f"{prefix}-{n}", tenant.account_id, units=UNITS, sku=IMAGE)
            for n in range(count)]


def stored(harness: Harness, tenant: Tenant) -> int:
    total: int = harness.get("/api/v1/billing/usage", tenant).json()["pagination"]["total"]
    return total


def test_an_overflowing_batch_is_refused_whole_naming_its_event(
    harness: Harness, tenant: Tenant
) -> None:
    answer = post_events(harness, batch(tenant, "big", 12))
    if harness.backend == "postgresql":  # NUMERIC(38, 9): far from its limit
        assert answer.status_code == 200, answer.text
        assert stored(harness, tenant) == 12
        return
    assert answer.status_code == 400, answer.text
    details = answer.json()["details"]["events"]
    assert set(details) - {"_errors"} == {"9"}  # the tenth event is the one past 2**63
    assert "total" in details["9"]["units"]["_errors"][0]
    assert stored(harness, tenant) == 0


def test_a_batch_overflowing_what_is_stored_is_refused_whole(
    harness: Harness, tenant: Tenant
) -> None:
    assert post_events(harness, batch(tenant, "first", 9)).status_code == 200
    answer = post_events(harness, batch(tenant, "second", 3))
    if harness.backend == "postgresql":
        assert answer.status_code == 200, answer.text
        return
    assert answer.status_code == 400, answer.text
    assert set(answer.json()["details"]["events"]) - {"_errors"} == {"0"}
    assert stored(harness, tenant) == 9
    balance = harness.get("/api/v1/billing/balance", tenant)
    assert balance.status_code == 200  # the totals stored before are untouched and readable

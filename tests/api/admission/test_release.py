"""POST /api/v1/usage/authorize/{holdId}/release: a hold whose call recorded nothing ends at
once (the key's limit and the balance are free again), charging nothing; on both databases."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from tests.support.admission import AUTHORIZE_PATH, LIMITS_PATH, Customer, key_limit_text
from tests.support.harness import Harness
from tests.support.recording import IMAGE, OPERATOR, audit_clean, record_ok
from usagebook.api.recording import record_body
from usagebook.ledger.settlement import Release, release_hold
from usagebook.store import holds as hold_store
from usagebook.store.engine import Database
from usagebook.store.holds import HoldRow


def _release(harness: Harness, hold_id: str, headers: dict[str, str] = OPERATOR) -> Any:
    return harness.client.post(f"{AUTHORIZE_PATH}/{hold_id}/release", headers=headers)


def _hold(harness: Harness, hold_id: str) -> HoldRow:
    async def work(db: Database) -> HoldRow:
        async with db.read() as conn:
            return (await hold_store.find_holds(conn, [hold_id]))[hold_id]

    return harness.call(work)


def _event(customer: Customer, request_id: str, hold_id: str, units: str = "5") -> dict[str, Any]:
    return {"requestId": request_id, "sku": IMAGE, "units": units, "apiKeyId": customer.key_id,
            "holdId": hold_id}


def _overspend(customer: Customer) -> Decimal:
    answer = customer.harness.client.get(LIMITS_PATH, headers=customer.admin)
    assert answer.status_code == 200, answer.text
    return Decimal(str(answer.json()["overspend"]["usd"]))


def test_a_released_hold_frees_the_keys_limit_at_once(harness: Harness) -> None:
    customer = Customer(harness, usd="0.05", credit="10")
    hold = customer.authorize({"amount": "0.05"}).json()
    refused = customer.authorize({"amount": "0.05"})
    assert (refused.status_code, refused.json()) == (402, {"error": key_limit_text("USD")})
    answer = _release(harness, hold["holdId"])
    assert (answer.status_code, answer.json()) == (200, {"holdId": hold["holdId"],
                                                         "released": True})
    assert _hold(harness, hold["holdId"]).settled_ms is not None
    again = customer.authorize({"amount": "0.05"})  # the whole limit is there again
    assert again.status_code == 200, again.text
    audit_clean(harness, customer.account_id)  # nothing was charged


def test_releasing_twice_changes_nothing_the_second_time(harness: Harness) -> None:
    customer = Customer(harness, credit="10")
    hold_id = customer.authorize({"amount": "0.05"}).json()["holdId"]
    assert _release(harness, hold_id).json()["released"] is True
    ended = _hold(harness, hold_id).settled_ms
    answer = _release(harness, hold_id)
    assert (answer.status_code, answer.json()) == (200, {"holdId": hold_id, "released": False})
    assert _hold(harness, hold_id).settled_ms == ended


def test_releasing_a_settled_hold_keeps_its_charge(harness: Harness) -> None:
    customer = Customer(harness, usd="1", credit="10")
    hold_id = customer.authorize({"amount": "0.05"}).json()["holdId"]
    results = record_ok(harness, [_event(customer, "settled", hold_id)])
    settled = _hold(harness, hold_id).settled_ms
    answer = _release(harness, hold_id)
    assert (answer.status_code, answer.json()) == (200, {"holdId": hold_id, "released": False})
    assert _hold(harness, hold_id).settled_ms == settled
    usage = harness.client.get("/api/v1/billing/usage", headers=customer.admin).json()["data"]
    assert [e["amount"] for e in usage] == [results[0]["entry"]["amount"]] == [-0.05]
    assert _overspend(customer) == 0  # the recording, not the release, ended it


def test_an_unknown_hold_is_a_404_with_a_json_body(harness: Harness) -> None:
    unknown = "hold_" + "0" * 24
    for hold_id, text in ((unknown, f"No hold {unknown}"), ("not%20an%20id", "No such hold"),
                          ("x" * 41, "No such hold")):
        answer = _release(harness, hold_id)
        assert (answer.status_code, answer.json()) == (404, {"error": text})


def test_only_the_operator_may_release(harness: Harness) -> None:
    customer = Customer(harness, credit="10")
    hold_id = customer.authorize({"amount": "0.05"}).json()["holdId"]
    for headers in ({}, customer.admin, {"Authorization": f"Bearer {customer.secret}"}):
        answer = _release(harness, hold_id, headers)
        assert answer.status_code == 401 and answer.json()["error"]
    assert _hold(harness, hold_id).settled_ms is None


def test_a_release_racing_a_recording_lets_exactly_one_end_the_hold(harness: Harness) -> None:
    """Each round, a release and a recording that names the same hold run at once. The
    recording is charged either way; whoever comes second finds the hold ended: a recording
    after the release counts its whole cost as overspend (no live hold reserved it), a release
    after the recording answers `released: false`. So the overspend is the cost times the
    releases that won, exactly, whatever the interleaving."""
    rounds = 24
    customer = Customer(harness, credit="10")
    holds = [customer.authorize({"amount": "0.05"}, requestId=f"race-{n}").json()["holdId"]
             for n in range(rounds)]

    async def race(db: Database) -> list[Release]:
        async def one(n: int, hold_id: str) -> Release:
            body = {"events": [_event(customer, f"race-{n}", hold_id)]}
            if n % 2:  # either may start first
                recorded, released = await asyncio.gather(record_body(db, body),
                                                          release_hold(db, hold_id))
            else:
                released, recorded = await asyncio.gather(release_hold(db, hold_id),
                                                          record_body(db, body))
            assert [r.status for r in recorded] == ["recorded"]
            return released

        return list(await asyncio.gather(*(one(n, h) for n, h in enumerate(holds))))

    releases = harness.call(race)
    won = sum(r.released for r in releases)
    assert _overspend(customer) == Decimal("0.05") * won
    assert all(_hold(harness, h).settled_ms is not None for h in holds)
    audit_clean(harness, customer.account_id)


"""Recording with `holdId`: charged in the hold's currency, the hold released in the same
transaction, overspend counted; on both databases."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.support.admission import LIMITS_PATH, Customer
from tests.support.harness import Harness
from tests.support.recording import IMAGE, audit_clean, grant, post_events, record_ok, set_diem
from usagebook.store import holds as hold_store
from usagebook.store.engine import Database
from usagebook.store.holds import HoldRow
from usagebook.timeutil import format_ms, now_ms


def _hold(harness: Harness, hold_id: str) -> HoldRow:
    async def work(db: Database) -> HoldRow:
        async with db.read() as conn:
            return (await hold_store.find_holds(conn, [hold_id]))[hold_id]

    return harness.call(work)


def _event(customer: Customer, request_id: str, hold_id: str | None, units: str = "1",
           **extra: Any) -> dict[str, Any]:
    event = {"requestId": request_id, "sku": IMAGE, "units": units, "apiKeyId": customer.key_id,
             **extra}
    if hold_id is not None:
        event["holdId"] = hold_id
    return event


def _limits(customer: Customer) -> dict[str, Any]:
    answer = customer.harness.client.get(LIMITS_PATH, headers=customer.admin)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_settling_charges_the_holds_currency_and_releases_it(harness: Harness) -> None:
    customer = Customer(harness, credit="10")
    grant(harness, customer.account_id, "BUNDLED_CREDITS", "0.5")
    hold = customer.authorize({"amount": "1"}).json()  # BUNDLED cannot cover 1: USD
    assert hold["currency"] == "USD"
    # Without the hold, the consumption order would pick BUNDLED_CREDITS.
    results = record_ok(harness, [_event(customer, "a", hold["holdId"], "20"),
                                  _event(customer, "b", hold["holdId"], "30")])
    assert [r["entry"]["currency"] for r in results] == ["USD", "USD"]
    assert _hold(harness, hold["holdId"]).settled_ms is not None
    assert _limits(customer)["overspend"] == {"usd": 0, "diem": 0}
    audit_clean(harness, customer.account_id)


def test_recorded_cost_beyond_the_hold_is_overspend(harness: Harness) -> None:
    customer = Customer(harness, usd="1", credit="10")
    hold = customer.authorize({"amount": "0.05"}).json()
    record_ok(harness, [_event(customer, "a", hold["holdId"], "8")])  # 0.08 charged
    limits = _limits(customer)
    assert Decimal(str(limits["overspend"]["usd"])) == Decimal("0.03")
    assert Decimal(str(limits["currentMonthUsage"]["usd"])) == Decimal("0.08")
    metrics = harness.client.get("/metrics").text
    assert 'usagebook_overspend_total{limit_class="usd"}' in metrics


def test_a_settled_or_expired_hold_is_recorded_as_if_none(harness: Harness) -> None:
    customer = Customer(harness, credit="10")
    set_diem(harness, customer.account_id, "5")
    hold = customer.authorize({"amount": "0.01"}).json()
    assert hold["currency"] == "DIEM"
    record_ok(harness, [_event(customer, "a", hold["holdId"])])
    # Settled: a second recording naming it is charged by the consumption order and counted
    # as overspend in full (no live hold reserved it).
    set_diem(harness, customer.account_id, None)
    results = record_ok(harness, [_event(customer, "b", hold["holdId"])])
    assert results[0]["entry"]["currency"] == "USD"
    assert Decimal(str(_limits(customer)["overspend"]["usd"])) == Decimal("0.01")


def test_a_repeat_of_a_settling_request_changes_nothing(harness: Harness) -> None:
    customer = Customer(harness, credit="10")
    hold = customer.authorize({"amount": "0.01"}).json()
    events = [_event(customer, "a", hold["holdId"], "3")]
    record_ok(harness, events)
    again = record_ok(harness, events)
    assert again[0]["status"] == "duplicate"
    assert Decimal(str(_limits(customer)["overspend"]["usd"])) == Decimal("0.02")


def test_another_keys_or_unknown_hold_is_400(harness: Harness) -> None:
    customer = Customer(harness)
    other = Customer(harness)
    hold = other.authorize({"amount": "0.01"}).json()
    answer = post_events(harness, [_event(customer, "a", hold["holdId"]),
                                   _event(customer, "b", "hold_unknown")])
    assert answer.status_code == 400
    details = answer.json()["details"]["events"]
    assert details["0"]["holdId"]["_errors"] and details["1"]["holdId"]["_errors"]


def test_events_naming_a_hold_may_be_a_week_old(harness: Harness) -> None:
    customer = Customer(harness)
    hold = customer.authorize({"amount": "0.01"}).json()
    three_days_ago = format_ms(now_ms() - 3 * 86_400_000)
    results = record_ok(harness, [_event(customer, "a", hold["holdId"],
                                         timestamp=three_days_ago)])
    assert results[0]["status"] == "recorded"
    answer = post_events(harness, [_event(customer, "b", None, timestamp=three_days_ago)])
    assert answer.status_code == 400
    eight_days_ago = format_ms(now_ms() - 8 * 86_400_000)
    answer = post_events(harness, [_event(customer, "c", hold["holdId"],
                                          timestamp=eight_days_ago)])
    assert answer.status_code == 400


def test_settled_hold_frees_the_key_limit_for_the_real_cost(harness: Harness) -> None:
    customer = Customer(harness, usd="0.1")
    hold = customer.authorize({"amount": "0.1"}).json()
    assert customer.authorize({"amount": "0.01"}).status_code == 402
    record_ok(harness, [_event(customer, "a", hold["holdId"], "4")])  # 0.04 of 0.1
    assert customer.authorize({"amount": "0.06"}).status_code == 200
    assert customer.authorize({"amount": "0.000000001"}).status_code == 402

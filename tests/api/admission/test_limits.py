"""Account-level monthly limits: PUT/GET /billing/limits and what authorize makes of them."""

from __future__ import annotations

from decimal import Decimal

from tests.support.admission import LIMITS_PATH, Customer
from tests.support.harness import Harness
from tests.support.recording import set_diem


def test_put_and_get_limits(harness: Harness) -> None:
    customer = Customer(harness)
    client = harness.client
    empty = client.get(LIMITS_PATH, headers=customer.admin).json()
    assert empty == {"monthlyUsd": None, "monthlyDiem": None,
                     "currentMonthUsage": {"usd": 0, "diem": 0},
                     "overspend": {"usd": 0, "diem": 0}}
    answer = client.put(LIMITS_PATH, json={"monthlyUsd": "12.5", "monthlyDiem": None},
                        headers=customer.admin)
    assert answer.status_code == 200, answer.text
    assert Decimal(str(answer.json()["monthlyUsd"])) == Decimal("12.5")
    assert client.get(LIMITS_PATH, headers=customer.admin).json()["monthlyUsd"] == 12.5


def test_bad_limits_are_400_naming_each(harness: Harness) -> None:
    customer = Customer(harness)
    answer = harness.client.put(LIMITS_PATH, json={"monthlyUsd": "-1", "monthlyDiem": "x",
                                                   "weekly": 1}, headers=customer.admin)
    assert answer.status_code == 400
    assert set(answer.json()["details"]) == {"_errors", "monthlyUsd", "monthlyDiem", "weekly"}


def test_limits_need_an_admin_key(harness: Harness) -> None:
    customer = Customer(harness)
    answer = harness.client.get(LIMITS_PATH, headers={"Authorization": f"Bearer {customer.secret}"})
    assert answer.status_code == 401


def test_account_monthly_limit_refuses_authorize(harness: Harness) -> None:
    customer = Customer(harness, credit="100")
    harness.client.put(LIMITS_PATH, json={"monthlyUsd": "1", "monthlyDiem": "0"},
                       headers=customer.admin)
    assert customer.authorize({"amount": "0.8"}).status_code == 200
    refused = customer.authorize({"amount": "0.3"})
    assert refused.status_code == 402
    assert refused.json() == {"error": "Account monthly USD spend limit exceeded."}
    assert int(refused.headers["retry-after"]) >= 1
    set_diem(harness, customer.account_id, "5")
    refused = customer.authorize({"amount": "0.1"})
    assert refused.json() == {"error": "Account monthly DIEM spend limit exceeded."}

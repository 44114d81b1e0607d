"""POST /usage/authorize, rule by rule, on both databases."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from fastapi.testclient import TestClient

from tests.support.admission import AUTHORIZE_PATH, Customer, key_limit_text
from tests.support.harness import Harness
from tests.support.recording import IMAGE, LLAMA_IN, OPERATOR, grant, set_diem
from usagebook.app import create_app
from usagebook.ledger.keys import revoke_key


def test_grants_a_hold_in_the_first_currency_that_covers_it(harness: Harness) -> None:
    customer = Customer(harness, credit="1")
    answer = customer.authorize({"amount": "0.25"}, holdSeconds=60)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"holdId", "amount", "currency", "expiresAt"}
    assert body["holdId"].startswith("hold_")
    assert Decimal(str(body["amount"])) == Decimal("0.25")
    assert body["currency"] == "USD"
    assert body["expiresAt"].endswith("Z")


def test_priced_estimates_sum_their_skus(harness: Harness) -> None:
    customer = Customer(harness)
    one = customer.authorize({"sku": IMAGE, "units": "3"})
    assert one.status_code == 200, one.text
    assert Decimal(str(one.json()["amount"])) == Decimal("0.03")
    several = customer.authorize({"items": [{"sku": IMAGE, "units": 2},
                                            {"sku": LLAMA_IN, "units": "0.001"}]})
    assert several.status_code == 200, several.text
    assert Decimal(str(several.json()["amount"])) == Decimal("0.0207")


def test_holds_count_against_the_balance(harness: Harness) -> None:
    customer = Customer(harness, credit="1")
    assert customer.authorize({"amount": "0.6"}).status_code == 200
    refused = customer.authorize({"amount": "0.6"})
    assert refused.status_code == 402
    assert refused.json() == {"error": "Insufficient balance"}
    assert "retry-after" not in refused.headers
    assert customer.authorize({"amount": "0.4"}).status_code == 200


def test_consumption_order_skips_a_currency_that_cannot_cover_it(harness: Harness) -> None:
    customer = Customer(harness, credit="10")
    set_diem(harness, customer.account_id, "1")
    grant(harness, customer.account_id, "BUNDLED_CREDITS", "2")
    assert customer.authorize({"amount": "0.5"}).json()["currency"] == "DIEM"
    assert customer.authorize({"amount": "0.6"}).json()["currency"] == "BUNDLED_CREDITS"
    assert customer.authorize({"amount": "0.5"}).json()["currency"] == "DIEM"
    assert customer.authorize({"amount": "1.5"}).json()["currency"] == "USD"


def test_key_usd_limit_refuses_with_venice_text_and_retry_after(harness: Harness) -> None:
    customer = Customer(harness, usd="1")
    assert customer.authorize({"amount": "0.7"}).status_code == 200
    refused = customer.authorize({"amount": "0.31"})
    assert refused.status_code == 402
    assert refused.json() == {"error": key_limit_text("USD")}
    assert 1 <= int(refused.headers["retry-after"]) <= 86_400
    assert customer.authorize({"amount": "0.3"}).status_code == 200


def test_zero_limit_refuses_its_class_without_trying_the_next_currency(harness: Harness) -> None:
    customer = Customer(harness, diem="0", credit="10")
    set_diem(harness, customer.account_id, "5")
    refused = customer.authorize({"amount": "0.1"})
    assert refused.status_code == 402
    assert refused.json() == {"error": key_limit_text("DIEM")}


def test_lifetime_limit_has_no_retry_after(harness: Harness) -> None:
    customer = Customer(harness, usd="0", period="LIFETIME")
    refused = customer.authorize({"amount": "0.1"})
    assert refused.status_code == 402
    assert "retry-after" not in refused.headers


def test_request_id_makes_it_idempotent(harness: Harness) -> None:
    customer = Customer(harness, usd="1")
    first = customer.authorize({"amount": "0.9"}, requestId="r-1")
    assert first.status_code == 200
    again = customer.authorize({"amount": "0.900"}, requestId="r-1")
    assert again.status_code == 200
    assert again.json() == first.json()
    other = customer.authorize({"amount": "0.5"}, requestId="r-1")
    assert other.status_code == 409
    assert customer.authorize({"amount": "0.2"}, requestId="r-2").status_code == 402


def test_by_secret_names_key_and_account(harness: Harness) -> None:
    customer = Customer(harness)
    body = {"apiKey": customer.secret, "estimate": {"amount": "0.01"}}
    answer = harness.client.post(AUTHORIZE_PATH, json=body, headers=OPERATOR)
    assert answer.status_code == 200, answer.text
    assert answer.json()["apiKeyId"] == customer.key_id
    assert answer.json()["accountId"] == customer.account_id


def test_unknown_secret_and_bad_token_are_401(harness: Harness) -> None:
    body = {"apiKey": "ubk_nothing", "estimate": {"amount": "1"}}
    answer = harness.client.post(AUTHORIZE_PATH, json=body, headers=OPERATOR)
    assert (answer.status_code, answer.json()) == (401, {"error": "Invalid API key"})
    answer = harness.client.post(AUTHORIZE_PATH, json=body,
                                 headers={"Authorization": "Bearer nope"})
    assert (answer.status_code, answer.json()) == (
        401, {"error": "Invalid or missing operator token"})


def test_unknown_key_id_and_sku_are_named_together(harness: Harness) -> None:
    body = {"apiKeyId": "key_unknown", "estimate": {"items": [{"sku": "nope", "units": 1}]}}
    answer = harness.client.post(AUTHORIZE_PATH, json=body, headers=OPERATOR)
    assert answer.status_code == 400
    details = answer.json()["details"]
    assert details["apiKeyId"]["_errors"]
    assert details["estimate"]["items"]["0"]["sku"]["_errors"]


def test_bad_bodies_are_400(harness: Harness) -> None:
    customer = Customer(harness)
    for estimate in ({}, {"amount": "0"}, {"amount": -1}, {"amount": "1", "sku": IMAGE},
                     {"sku": IMAGE}, {"items": []}, {"amount": "1.0000000001"}):
        answer = customer.authorize(estimate)
        assert answer.status_code == 400, (estimate, answer.text)
    assert customer.authorize({"amount": "1"}, holdSeconds=0).status_code == 400
    assert customer.authorize({"amount": "1"}, holdSeconds=3601).status_code == 400
    assert customer.authorize({"amount": "1"}, surprise=1).status_code == 400


def test_the_keys_rate_limit_applies_and_is_logged(harness: Harness) -> None:
    customer = Customer(harness)
    settings = replace(harness.settings, rate_limit_per_minute=2)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        body = {"apiKeyId": customer.key_id, "estimate": {"amount": "0.01"}}
        answers = [client.post(AUTHORIZE_PATH, json=body, headers=OPERATOR) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert int(answers[2].headers["retry-after"]) >= 1
        log = client.get("/api/v1/api_keys/rate_limits/log", headers=customer.admin)
        assert [entry["apiKeyId"] for entry in log.json()["data"]] == [customer.key_id]


def test_a_revoked_key_is_401_by_id_and_by_secret(harness: Harness) -> None:
    customer = Customer(harness)
    harness.call(lambda db: revoke_key(db, customer.key_id))
    by_id = customer.authorize({"amount": "0.01"})
    assert (by_id.status_code, by_id.json()) == (401, {"error": "Invalid API key"})
    body = {"apiKey": customer.secret, "estimate": {"amount": "0.01"}}
    by_secret = harness.client.post(AUTHORIZE_PATH, json=body, headers=OPERATOR)
    assert (by_secret.status_code, by_secret.json()) == (401, {"error": "Invalid API key"})

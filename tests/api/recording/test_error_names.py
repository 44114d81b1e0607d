"""The ledger names an event's bad fields by the Event's names (`api_key_id`, `ts_ms`,
`hold_id`); the recording and authorize routes show them as clients spell them. These bodies are
pinned byte for byte as they were when the ledger still named wire fields (both backends)."""

from __future__ import annotations

from typing import Any

from tests.support.admission import Customer
from tests.support.harness import Harness, Tenant
from tests.support.recording import EVENTS_PATH, IMAGE, OPERATOR

AUTHORIZE_PATH = "/api/v1/usage/authorize"


def _events(account: str) -> list[dict[str, Any]]:
    return [
        {"requestId": "r1", "sku": IMAGE, "units": "1"},
        {"requestId": "r2", "sku": IMAGE, "units": "1", "apiKeyId": "key_x", "accountId": account},
        {"requestId": "r3", "sku": "nope", "units": "1", "apiKeyId": "key_nope"},
        {"requestId": "r4", "sku": IMAGE, "units": "1", "accountId": "acct_nope",
         "timestamp": "2000-01-01T00:00:00Z", "currency": "USD"},
        {"requestId": "r5", "sku": IMAGE, "units": "1", "accountId": account, "holdId": "hold_x"},
        {"requestId": 5, "sku": "nope2", "units": "x", "accountId": "acct_nope2",
         "promptTokens": 1.5, "colour": 1},
    ]


EVENTS_ANSWER = (
    '{"error":"Invalid usage events","details":{"_errors":[],"events":{"_errors":[],"5":{'
    '"_errors":[],"requestId":{"_errors":["must be text"]},"units":{"_errors":["must be a decimal'
    ' number"]},"promptTokens":{"_errors":["must be a whole number"]},"colour":{"_errors":["is '
    'not a known field"]},"accountId":{"_errors":["is not a known account"]},"sku":{"_errors":['
    '"is not in the SKU catalog"]}},"0":{"_errors":[],"apiKeyId":{"_errors":["exactly one of '
    'apiKeyId and accountId is required"]}},"1":{"_errors":[],"apiKeyId":{"_errors":["exactly '
    'one of apiKeyId and accountId is required","is not a known API key"]}},"3":{"_errors":[],'
    '"timestamp":{"_errors":["must be within the last 24 hours (and at most 5 minutes ahead)"]},'
    '"currency":{"_errors":["is decided by the consumption order; only `usagebook import` may '
    'carry one"]},"accountId":{"_errors":["is not a known account"]}},"2":{"_errors":[],'
    '"apiKeyId":{"_errors":["is not a known API key"]},"sku":{"_errors":["is not in the SKU '
    'catalog"]}},"4":{"_errors":[],"holdId":{"_errors":["is not a known hold"]}}}}}'
)


def test_recording_names_the_fields_as_sent(harness: Harness, tenant: Tenant) -> None:
    answer = harness.client.post(EVENTS_PATH, headers=OPERATOR,
                                 json={"events": _events(tenant.account_id)})
    assert (answer.status_code, answer.text) == (400, EVENTS_ANSWER)


def test_a_conflict_names_the_request_id_as_sent(harness: Harness) -> None:
    customer = Customer(harness)
    assert customer.authorize({"amount": "0.5"}, requestId="r-1").status_code == 200
    other = customer.authorize({"amount": "0.25"}, requestId="r-1")
    assert (other.status_code, other.text) == (
        409, '{"error":"requestId r-1 was authorized with another estimate"}')


def test_authorize_names_the_fields_as_sent(harness: Harness) -> None:
    for estimate, where in (({"items": [{"sku": "nope", "units": 1}]},
                             '"items":{"_errors":[],"0":{"_errors":[],"sku":'),
                            ({"sku": "nope", "units": 1}, '"sku":')):
        answer = harness.client.post(AUTHORIZE_PATH, headers=OPERATOR,
                                     json={"apiKeyId": "key_unknown", "estimate": estimate})
        closing = "}}}}}" if "items" in where else "}}}"
        assert (answer.status_code, answer.text) == (400, (
            '{"error":"Invalid authorize request","details":{"_errors":[],"apiKeyId":{"_errors":'
            '["is not a known API key"]},"estimate":{"_errors":[],' + where
            + '{"_errors":["is not in the SKU catalog"]}' + closing))

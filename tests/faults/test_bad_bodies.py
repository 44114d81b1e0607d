"""Bodies the recording endpoint must refuse whole: over 2 MiB (413, whether the length is
declared or the body is streamed), and malformed JSON (400 DetailedError). Nothing is written."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.harness import OPERATOR_TOKEN, Harness, Tenant
from tests.support.traffic import EVENTS, SKU

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}", "content-type": "application/json"}
LIMIT = 2 * 1024 * 1024


def oversized(tenant: Tenant) -> bytes:
    """A well-formed batch just over 2 MiB (long notes), so only its size is wrong."""
    event = {"requestId": "big", "sku": SKU, "units": "1", "accountId": tenant.account_id,
             "notes": "n" * (LIMIT // 2)}
    body = json.dumps({"events": [event, {**event, "requestId": "big-2"}]}).encode()
    assert LIMIT < len(body) < LIMIT + 1024
    return body


def stored_total(harness: Harness, tenant: Tenant) -> int:
    answer = harness.get("/api/v1/billing/usage", tenant)
    assert answer.status_code == 200
    total: int = answer.json()["pagination"]["total"]
    return total


def test_a_body_over_2_mib_is_a_413(harness: Harness, tenant: Tenant) -> None:
    body = oversized(tenant)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 100_000):
            yield body[start:start + 100_000]

    declared = harness.client.post(EVENTS, content=body, headers=OPERATOR)
    streamed = harness.client.post(EVENTS, content=chunks(), headers=OPERATOR)
    for answer in (declared, streamed):
        assert answer.status_code == 413, answer.text
        assert set(answer.json()) == {"error"} and answer.headers["x-request-id"]
    assert stored_total(harness, tenant) == 0


@pytest.mark.parametrize("body", [
    b'{"events": [', b"not json at all", b'{"events": [{"requestId": "a",}]}', b"\xff\xfe",
    b"", b"[]", b"null", b'{"events": "x"}',
])
def test_malformed_json_is_a_400_detailed_error(
    harness: Harness, tenant: Tenant, body: bytes
) -> None:
    answer = harness.client.post(EVENTS, content=body, headers=OPERATOR)
    assert answer.status_code == 400, answer.text
    assert set(answer.json()) == {"error", "details"}
    assert "_errors" in answer.json()["details"]
    assert stored_total(harness, tenant) == 0


def test_a_batch_within_the_limit_is_accepted(harness: Harness, tenant: Tenant) -> None:
    event = {"requestId": "fits", "sku": SKU, "units": "1", "accountId": tenant.account_id,
             "notes": "n" * 1000}
    answer = harness.client.post(EVENTS, json={"events": [event]}, headers=OPERATOR)
    assert answer.status_code == 200, answer.text
    assert stored_total(harness, tenant) == 1

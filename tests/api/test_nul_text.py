"""Text PostgreSQL cannot store (NUL) is a 400 naming the field, never a 500 (found by the
schemathesis run)."""

from __future__ import annotations

import pytest

from tests.support.harness import OPERATOR_TOKEN, Harness, Tenant
from tests.support.usage import assert_bad_request


@pytest.mark.parametrize("field", ["sku", "requestId", "notes", "accountId"])
def test_nul_in_event_text_is_a_400(harness: Harness, tenant: Tenant, field: str) -> None:
    event = {"requestId": "nul-test", "sku": "flux-dev-image-unit", "units": "1",
             "accountId": tenant.account_id}
    event[field] = "bad\x00text"
    answer = harness.client.post("/api/v1/usage/events", json={"events": [event]},
                                 headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    body = assert_bad_request(answer)
    assert body["details"]["events"]["0"][field]["_errors"]

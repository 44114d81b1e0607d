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


def test_nul_in_a_key_id_is_an_unknown_key(harness: Harness, tenant: Tenant) -> None:
    """A key id with NUL in it (found by the schemathesis run on PostgreSQL) names no key: 404 on
    the key's own address, and the same 400 naming `id` as any unknown id for PATCH and DELETE."""
    admin = {"Authorization": f"Bearer {tenant.admin_key}"}
    bad = "key_\x00abc"
    answer = harness.client.get("/api/v1/api_keys/key_%00abc", headers=admin)
    assert answer.status_code == 404, answer.text
    unknown = harness.client.delete("/api/v1/api_keys", params={"id": "key_0000"}, headers=admin)
    for answer in (
        harness.client.delete("/api/v1/api_keys", params={"id": bad}, headers=admin),
        harness.client.patch("/api/v1/api_keys", json={"id": bad, "description": "x"},
                             headers=admin),
    ):
        body = assert_bad_request(answer)
        assert body["details"]["id"] == unknown.json()["details"]["id"]


def test_nul_in_a_key_description_is_a_400(harness: Harness, tenant: Tenant) -> None:
    """Creating or changing a key with NUL in its description names `description`, on both
    databases alike (the schemathesis run found a 500 on PostgreSQL)."""
    admin = {"Authorization": f"Bearer {tenant.admin_key}"}
    for answer in (
        harness.client.post("/api/v1/api_keys", headers=admin,
                            json={"apiKeyType": "INFERENCE", "description": "a\x00b"}),
        harness.client.patch("/api/v1/api_keys", headers=admin,
                             json={"id": tenant.inference_key_id or tenant.admin_key_id,
                                   "description": "a\x00b"}),
    ):
        body = assert_bad_request(answer)
        assert "NUL" in str(body["details"]["description"])

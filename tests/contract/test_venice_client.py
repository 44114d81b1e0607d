"""A Venice client, unchanged but for its base URL: httpx calls exactly as Venice's API reference
documents them (its example bodies, checked against Venice's request schemas), sent to a real
`usagebook serve` process over TCP, every answer checked against Venice's response schemas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.harness import Harness, Tenant
from tests.support.keys import venice_errors
from tests.support.served import server_env
from tests.support.servers import UsagebookServer

# The examples of Venice's create and update request schemas (swagger.yaml 20260821.193530),
# with the example expiry (2023-10-01T12:00:00Z, now past) moved into the future.
CREATE = {"apiKeyType": "INFERENCE", "description": "Example API Key",
          "expiresAt": "2099-10-01T12:00:00Z",
          "consumptionLimit": {"usd": 50, "diem": 10, "vcu": 30},
          "limitPeriod": "MONTH", "modelPrivacy": "ALL"}
UPDATE = {"description": "Updated API Key Name", "expiresAt": "",
          "consumptionLimit": {"usd": 50, "diem": 10, "vcu": 30}}


@pytest.fixture
def venice(harness: Harness, database_urls: dict[str, str], tenant: Tenant,
           tmp_path: Path) -> Iterator[httpx.Client]:
    server = UsagebookServer(server_env(database_urls[harness.backend]),
                             tmp_path / "server.log")
    server.start()
    try:
        with httpx.Client(base_url=f"{server.base_url}/api/v1",
                          headers={"Authorization": f"Bearer {tenant.admin_key}"}) as client:
            yield client
    finally:
        server.stop()


def _ok(answer: httpx.Response, schema: str) -> Any:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert venice_errors(schema, answer.json()) == []
    return answer.json()


def test_a_venice_client_manages_keys(venice: httpx.Client, tenant: Tenant) -> None:
    assert venice_errors("apiKeysCreateRequest", CREATE) == []
    created = _ok(venice.post("/api_keys", json=CREATE), "apiKeysCreate")["data"]
    assert created["consumptionLimit"] == CREATE["consumptionLimit"]
    secret, key_id = created["apiKey"], created["id"]

    listed = _ok(venice.get("/api_keys"), "apiKeysList")["data"]
    assert {key["id"] for key in listed} == {tenant.admin_key_id, tenant.inference_key_id,
                                            key_id}
    one = _ok(venice.get(f"/api_keys/{key_id}"), "apiKeysGet")["data"]
    assert one["currentPeriodUsage"] == {"usd": "0.0000", "diem": "0.0000"}

    update = {"id": key_id, **UPDATE}
    assert venice_errors("apiKeysUpdateRequest", update) == []
    updated = _ok(venice.patch("/api_keys", json=update), "apiKeysUpdate")["data"]
    assert (updated["description"], updated["expiresAt"]) == ("Updated API Key Name", None)

    own = {"Authorization": f"Bearer {secret}"}  # the new INFERENCE key, about itself
    status = _ok(venice.get("/api_keys/rate_limits", headers=own), "apiKeysRateLimits")
    assert status["data"]["accessPermitted"] is False  # the account has nothing to spend
    _ok(venice.get("/api_keys/rate_limits/log"), "apiKeysRateLimitLog")

    assert _ok(venice.delete("/api_keys", params={"id": key_id}), "apiKeysDelete") == {
        "success": True}
    refused = venice.get("/api_keys/rate_limits", headers=own)
    assert refused.status_code == 401 and venice_errors("standardError", refused.json()) == []
    bad = venice.post("/api_keys", json={**CREATE, "consumptionLimits": {}})
    assert bad.status_code == 400 and venice_errors("detailedError", bad.json()) == []

"""/api/v1/webhooks and /api/v1/alerts: shapes, validation, account scoping (both backends)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support.harness import Harness, Tenant, make_settings
from usagebook.app import create_app

HOOKS = "/api/v1/webhooks"
URL = "http://127.0.0.1:9/hooks"


def _create(harness: Harness, tenant: Tenant, **body: object) -> dict[str, object]:
    answer = harness.client.post(HOOKS, headers=tenant.admin, json={
        "url": URL, "eventTypes": ["account.balance.low"], **body})
    assert answer.status_code == 201, answer.text
    created: dict[str, object] = answer.json()
    return created


def test_create_shows_the_secret_once(harness: Harness, tenant: Tenant) -> None:
    created = _create(harness, tenant, description="ops")
    assert set(created) == {"id", "url", "eventTypes", "description", "enabled", "createdAt",
                            "secret"}
    assert str(created["id"]).startswith("whk_") and created["enabled"] is True
    secret = str(created["secret"])
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) >= 24
    listed = harness.get(HOOKS, tenant).json()["data"]
    assert [item["id"] for item in listed] == [created["id"]]
    assert "secret" not in listed[0]
    one = harness.get(f"{HOOKS}/{created['id']}", tenant).json()
    assert one == {k: v for k, v in created.items() if k != "secret"}


def test_patch_rotate_and_delete(harness: Harness, tenant: Tenant) -> None:
    created = _create(harness, tenant)
    path = f"{HOOKS}/{created['id']}"
    answer = harness.client.patch(path, headers=tenant.admin, json={
        "enabled": False, "eventTypes": ["key.expiring", "account.balance.low"],
        "description": "night shift"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["enabled"] is False
    assert answer.json()["eventTypes"] == ["account.balance.low", "key.expiring"]
    assert answer.json()["description"] == "night shift"
    rotated = harness.client.post(f"{path}/rotate-secret", headers=tenant.admin)
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != created["secret"]
    assert harness.client.delete(path, headers=tenant.admin).status_code == 204
    assert harness.get(path, tenant).status_code == 404
    assert harness.client.delete(path, headers=tenant.admin).status_code == 404


def test_another_accounts_endpoint_is_not_found(harness: Harness, tenant: Tenant) -> None:
    created = _create(harness, tenant)
    other = harness.tenant("other")
    path = f"{HOOKS}/{created['id']}"
    assert harness.get(path, other).status_code == 404
    assert harness.client.patch(path, headers=other.admin, json={"enabled": False}
                                ).status_code == 404
    assert harness.client.delete(path, headers=other.admin).status_code == 404
    assert harness.get(f"{path}/deliveries", other).status_code == 404
    assert harness.client.post(f"{path}/replay", headers=other.admin,
                               json={"eventId": "evt_x"}).status_code == 404
    assert harness.get(HOOKS, other).json() == {"data": []}
    assert harness.get(path, tenant).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://example.com/x", "eventTypes": ["key.expiring"]}, "url"),
    ({"url": "http://", "eventTypes": ["key.expiring"]}, "url"),
    ({"url": URL, "eventTypes": []}, "eventTypes"),
    ({"url": URL, "eventTypes": ["key.exploded"]}, "eventTypes"),
    ({"eventTypes": ["key.expiring"]}, "url"),
])
def test_bad_registrations_are_400(harness: Harness, tenant: Tenant, body: dict[str, object],
                                   field: str) -> None:
    answer = harness.client.post(HOOKS, headers=tenant.admin, json=body)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["details"]


def test_keys_other_than_admin_are_refused(harness: Harness, tenant: Tenant) -> None:
    inference = {"Authorization": f"Bearer {tenant.inference_key}"}
    assert harness.client.get(HOOKS, headers=inference).status_code == 401
    assert harness.client.get(HOOKS).status_code == 401
    assert harness.client.get("/api/v1/alerts", headers=inference).status_code == 401


def test_deliveries_limit_and_replay_validation(harness: Harness, tenant: Tenant) -> None:
    path = f"{HOOKS}/{_create(harness, tenant)['id']}"
    assert harness.get(f"{path}/deliveries", tenant).json() == {"data": []}
    for limit in ("0", "101", "x"):
        assert harness.get(f"{path}/deliveries?limit={limit}", tenant).status_code == 400
    replay = f"{path}/replay"
    assert harness.client.post(replay, headers=tenant.admin, json={}).status_code == 400
    assert harness.client.post(replay, headers=tenant.admin,
                               json={"eventId": "evt_nope"}).status_code == 404
    assert harness.client.post(replay, headers=tenant.admin,
                               json={"since": "yesterday", "until": "2026-01-01T00:00:00Z"}
                               ).status_code == 400
    ranged = harness.client.post(replay, headers=tenant.admin, json={
        "since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"})
    assert ranged.status_code == 202 and ranged.json() == {"queued": 0}


def test_alert_settings(harness: Harness, tenant: Tenant) -> None:
    alerts = "/api/v1/alerts"
    assert harness.get(alerts, tenant).json() == {"keyThresholds": [50, 80, 100],
                                                  "balanceBelow": {}}
    answer = harness.client.put(alerts, headers=tenant.admin, json={
        "keyThresholds": [90, 25], "balanceBelow": {"USD": "10.50", "BUNDLED_CREDITS": "3"}})
    assert answer.status_code == 200, answer.text
    expected = {"keyThresholds": [25, 90], "balanceBelow": {"BUNDLED_CREDITS": "3", "USD": "10.5"}}
    assert answer.json() == expected
    assert harness.get(alerts, tenant).json() == expected
    for bad in ({"keyThresholds": [0]}, {"keyThresholds": [101]}, {"keyThresholds": [50.5]},
                {"balanceBelow": {"USD": "-1"}}, {"balanceBelow": {"USD": "0.0000000001"}},
                {"balanceBelow": {"EUR": "1"}}):
        answer = harness.client.put(alerts, headers=tenant.admin, json=bad)
        assert answer.status_code == 400, (bad, answer.text)
    assert harness.get(alerts, tenant).json() == expected


@pytest.fixture
def strict_client(harness: Harness, database_urls: dict[str, str]) -> Iterator[TestClient]:
    """The same database served by an app that refuses private addresses (delivering none)."""
    settings = make_settings(database_urls[harness.backend], webhook_allow_private=False,
                             webhook_delivery=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/x", "http://localhost/x",
                                 "https://10.1.2.3/x", "http://[::1]:9/x", "http://169.254.169.254/",
                                 "http://192.168.0.10/x", "http://[::ffff:127.0.0.1]/x"])
def test_private_addresses_are_refused(strict_client: TestClient, tenant: Tenant,
                                       url: str) -> None:
    answer = strict_client.post(HOOKS, headers=tenant.admin,
                                json={"url": url, "eventTypes": ["key.expiring"]})
    assert answer.status_code == 400, answer.text
    assert "not a public address" in str(answer.json()["details"]["url"])
    created = _create_public(strict_client, tenant)
    patched = strict_client.patch(f"{HOOKS}/{created}", headers=tenant.admin, json={"url": url})
    assert patched.status_code == 400


def _create_public(client: TestClient, tenant: Tenant) -> str:
    # A global address literal: nothing is resolved, nothing is sent (delivery is off).
    answer = client.post(HOOKS, headers=tenant.admin,
                         json={"url": "https://8.8.8.8/hooks", "eventTypes": ["key.expiring"]})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])

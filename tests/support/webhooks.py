"""Shared steps of the webhook tests: endpoints, alert settings, spend, the delivery log."""

from __future__ import annotations

from typing import Any

from tests.support.harness import Harness, Tenant
from tests.support.recording import event, grant, record_ok

HOOKS = "/api/v1/webhooks"
LOW = "account.balance.low"


def subscribe(harness: Harness, tenant: Tenant, url: str, *types: str) -> dict[str, Any]:
    answer = harness.client.post(HOOKS, headers=tenant.admin,
                                 json={"url": url, "eventTypes": list(types or (LOW,))})
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def balance_alert(harness: Harness, tenant: Tenant, usd: str) -> None:
    answer = harness.client.put("/api/v1/alerts", headers=tenant.admin,
                                json={"balanceBelow": {"USD": usd}})
    assert answer.status_code == 200, answer.text


def spend_usd(harness: Harness, tenant: Tenant, request_id: str, usd: int) -> None:
    """Charge `usd` dollars (flux-dev images at 0.01 USD each) to the account's USD."""
    record_ok(harness, [event(request_id, tenant.account_id, units=str(usd * 100))])


def deliveries(harness: Harness, tenant: Tenant, webhook_id: str) -> list[dict[str, Any]]:
    answer = harness.get(f"{HOOKS}/{webhook_id}/deliveries?limit=100", tenant)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["data"]
    return rows


__all__ = ["balance_alert", "deliveries", "grant", "spend_usd", "subscribe"]

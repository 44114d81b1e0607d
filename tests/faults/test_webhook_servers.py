"""Webhook delivery by real `usagebook serve` processes (both backends): a server killed in the
middle of an attempt leaves the event to be delivered by the next one, with the same
webhook-id; two servers on one database deliver each event once."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.harness import OPERATOR_TOKEN, Tenant
from tests.support.receiver import Receiver, wait_until
from tests.support.served import SECRET_KEY, ServerFactory, seed_tenant
from tests.support.servers import ScratchPostgres, UsagebookServer
from usagebook.ledger.accounts import create_account
from usagebook.ledger.keys import KeyType, create_key
from usagebook.settings import Settings
from usagebook.store.engine import create_database

pytestmark = pytest.mark.slow  # real servers, a lease to wait out: seconds each

FAST = {"USAGEBOOK_WEBHOOK_ALLOW_PRIVATE": "true", "USAGEBOOK_WEBHOOK_POLL_SECONDS": "0.05",
        "USAGEBOOK_WEBHOOK_RETRY_SCHEDULE": "0.2,0.2,0.2", "USAGEBOOK_WEBHOOK_TIMEOUT_SECONDS": "2"}


def _url(backend: str, scratch_pg: ScratchPostgres, tmp_path: Path) -> str:
    return scratch_pg.url if backend == "postgresql" else f"sqlite:///{tmp_path / 'hooks.db'}"


# Two servers share the machine with the rest of the suite: under a loaded CI machine one answer
# took longer than httpx's default 5 s. The test checks what is delivered, not how fast.
SLOW_MACHINE = 30.0


def _admin(tenant: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.admin_key}"}


def _watch(server: UsagebookServer, tenant: Tenant, receiver: Receiver) -> dict[str, Any]:
    """Alert below 5 USD, delivered to the receiver; returns the endpoint (with its secret)."""
    base = server.base_url
    answer = httpx.put(f"{base}/api/v1/alerts", headers=_admin(tenant),
                       json={"balanceBelow": {"USD": "5"}}, timeout=SLOW_MACHINE)
    assert answer.status_code == 200, answer.text
    answer = httpx.post(f"{base}/api/v1/webhooks", headers=_admin(tenant),
                        json={"url": receiver.url, "eventTypes": ["account.balance.low"]},
                        timeout=SLOW_MACHINE)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def _spend(server: UsagebookServer, tenant: Tenant, request_id: str) -> None:
    """1 USD (no credit: the balance goes below 5 at once)."""
    answer = httpx.post(f"{server.base_url}/api/v1/usage/events",
                        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
                        json={"events": [{"requestId": request_id, "sku": "flux-dev-image-unit",
                                          "units": "100", "accountId": tenant.account_id}]},
                        timeout=SLOW_MACHINE)
    assert answer.status_code == 200, answer.text


def _log(server: UsagebookServer, tenant: Tenant, hook: dict[str, Any]) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.base_url}/api/v1/webhooks/{hook['id']}/deliveries",
                       headers=_admin(tenant), timeout=SLOW_MACHINE)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["data"]
    return rows


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_killed_mid_delivery_is_delivered_again_with_the_same_id(
    backend: str, scratch_pg: ScratchPostgres, start_server: ServerFactory, tmp_path: Path
) -> None:
    url = _url(backend, scratch_pg, tmp_path)
    tenant = seed_tenant(url)
    receiver = Receiver().start()
    receiver.hold = threading.Event()  # the first attempt hangs, unanswered
    try:
        first_server = start_server(url, **FAST)
        hook = _watch(first_server, tenant, receiver)
        _spend(first_server, tenant, "k1")
        first = receiver.wait_for(1)[0]
        first_server.kill()  # mid-attempt: the claim is committed, the outcome never is
        held, receiver.hold = receiver.hold, None
        held.set()
        second_server = start_server(url, **FAST)  # claims it again once the lease ends
        again = receiver.wait_for(2, timeout=40)[1]
        assert again.webhook_id == first.webhook_id
        assert again.verified(hook["secret"]) == first.verified(hook["secret"])
        rows = wait_until(lambda: [r for r in _log(second_server, tenant, hook)
                                   if r["status"] == "delivered"], what="delivered")
        assert len(rows) == 1 and rows[0]["attempts"] == 2
        assert len(receiver.requests) == 2
    finally:
        receiver.stop()


def _tenants(url: str, count: int) -> list[Tenant]:
    settings = Settings.from_env({}, database_url=url, secret_key=SECRET_KEY)

    async def make() -> list[Tenant]:
        database = create_database(settings)
        made = []
        try:
            for index in range(count):
                account = await create_account(database, f"two servers {index}")
                admin = await create_key(database, account.id, KeyType.ADMIN, "admin")
                made.append(Tenant(account.id, admin.secret, "", admin.row.id, ""))
        finally:
            await database.dispose()
        return made

    return asyncio.run(make())


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_servers_deliver_each_event_once(
    backend: str, scratch_pg: ScratchPostgres, start_server: ServerFactory, tmp_path: Path
) -> None:
    url = _url(backend, scratch_pg, tmp_path)
    seed_tenant(url)  # migrated, with the SKU catalog
    servers = [start_server(url, **FAST), start_server(url, **FAST)]
    receiver = Receiver().start()
    try:
        tenants = _tenants(url, 24)
        hooks = [_watch(servers[i % 2], tenant, receiver) for i, tenant in enumerate(tenants)]
        threads = [threading.Thread(target=_spend, args=(servers[i % 2], tenant, f"t{i}"))
                   for i, tenant in enumerate(tenants)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        received = receiver.wait_for(len(tenants))
        for tenant, hook in zip(tenants, hooks, strict=True):
            rows = wait_until(lambda t=tenant, h=hook: [
                r for r in _log(servers[0], t, h) if r["status"] == "delivered"],
                what="delivered")
            # A second claim of the same delivery would have counted a second attempt.
            assert len(rows) == 1 and rows[0]["attempts"] == 1
            mine = [r for r in received if r.webhook_id == rows[0]["eventId"]]
            assert len(mine) == 1
            assert mine[0].verified(hook["secret"])["data"]["accountId"] == tenant.account_id
        assert len(receiver.requests) == len(tenants)
    finally:
        receiver.stop()

"""Delivery to a real receiver that verifies every request with `standardwebhooks` (both
backends): balance alerts fire once per crossing and re-arm with a grant; retries while the
receiver is down; 410 disables; redirects are not followed; rotation signs with both secrets;
replays keep the webhook-id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from tests.support.harness import Harness, Tenant
from tests.support.receiver import Receiver, wait_until
from tests.support.webhooks import (
    HOOKS,
    LOW,
    balance_alert,
    deliveries,
    grant,
    spend_usd,
    subscribe,
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def test_balance_low_once_per_crossing_and_rearmed_by_a_grant(
    harness: Harness, tenant: Tenant, receiver: Receiver
) -> None:
    hook = subscribe(harness, tenant, receiver.url)
    balance_alert(harness, tenant, "10")
    grant(harness, tenant.account_id, "USD", "12")
    spend_usd(harness, tenant, "r1", 1)  # 11 left: above the line
    spend_usd(harness, tenant, "r2", 2)  # 9 left: crossed
    spend_usd(harness, tenant, "r3", 2)  # 7 left: still below, no second event
    first = receiver.wait_for(1)[0]
    payload = first.verified(hook["secret"])
    assert payload["type"] == LOW
    assert payload["data"] == {"accountId": tenant.account_id, "currency": "USD",
                               "balance": "9", "threshold": "10"}
    assert first.webhook_id.startswith("evt_")
    grant(harness, tenant.account_id, "USD", "5")  # 12: lifted above, re-armed
    spend_usd(harness, tenant, "r4", 3)  # 9 again: a second crossing
    second = receiver.wait_for(2)[1]
    assert second.verified(hook["secret"])["data"]["balance"] == "9"
    assert second.webhook_id != first.webhook_id
    def both_delivered() -> list[dict[str, object]] | None:
        rows = deliveries(harness, tenant, hook["id"])
        return rows if [r["status"] for r in rows] == ["delivered"] * 2 else None

    log = wait_until(both_delivered, what="two delivered rows")
    assert [row["eventId"] for row in log] == [second.webhook_id, first.webhook_id]
    assert all(row["attempts"] == 1 and row["responseStatus"] == 200 and row["type"] == LOW
               and row["nextAttemptAt"] is None for row in log)
    assert len(receiver.requests) == 2
    with pytest.raises(WebhookVerificationError):
        first.verified("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY")


def test_concurrent_writers_raise_one_event(
    harness: Harness, tenant: Tenant, receiver: Receiver
) -> None:
    hook = subscribe(harness, tenant, receiver.url)
    balance_alert(harness, tenant, "15")
    grant(harness, tenant.account_id, "USD", "30")

    async def spend_all(db: object) -> None:
        import asyncio

        from usagebook.ledger.events import Event
        from usagebook.ledger.recording import record

        del db

        async def one(index: int) -> None:
            event = Event(request_id=f"c{index}", sku="flux-dev-image-unit", units=100,
                          account_id=tenant.account_id)
            await record(harness.database, [event])

        await asyncio.gather(*(one(i) for i in range(24)))

    harness.call(spend_all)
    receiver.wait_for(1)
    wait_until(lambda: deliveries(harness, tenant, hook["id"])[0]["status"] == "delivered",
               what="a delivered row")
    rows = deliveries(harness, tenant, hook["id"])
    assert len(rows) == 1 and len(receiver.requests) == 1


def test_receiver_down_then_up(harness: Harness, tenant: Tenant) -> None:
    receiver = Receiver()  # not listening yet: connections are refused
    hook = subscribe(harness, tenant, receiver.url)
    balance_alert(harness, tenant, "5")
    spend_usd(harness, tenant, "d1", 1)
    wait_until(lambda: deliveries(harness, tenant, hook["id"])[0]["attempts"] >= 2,
               what="a second attempt")
    row = deliveries(harness, tenant, hook["id"])[0]
    assert row["status"] == "pending" and row["responseStatus"] is None
    assert row["nextAttemptAt"] is not None
    receiver.start()
    try:
        got = receiver.wait_for(1)[0]
        assert got.webhook_id == row["eventId"]
        got.verified(hook["secret"])
        wait_until(lambda: deliveries(harness, tenant, hook["id"])[0]["status"] == "delivered",
                   what="delivered")
    finally:
        receiver.stop()


def test_gone_disables_and_errors_end_failed(
    harness: Harness, tenant: Tenant, receiver: Receiver
) -> None:
    receiver.status = 410
    hook = subscribe(harness, tenant, receiver.url)
    balance_alert(harness, tenant, "5")
    spend_usd(harness, tenant, "g1", 1)
    receiver.wait_for(1)
    wait_until(lambda: harness.get(f"{HOOKS}/{hook['id']}", tenant).json()["enabled"] is False,
               what="disabled endpoint")
    row = deliveries(harness, tenant, hook["id"])[0]
    assert (row["status"], row["responseStatus"], row["attempts"]) == ("failed", 410, 1)
    # A receiver that keeps failing: every retry of the (test) schedule, then failed.
    other = harness.tenant("failing")
    receiver.status = 500
    failing = subscribe(harness, other, receiver.url)
    balance_alert(harness, other, "5")
    spend_usd(harness, other, "g2", 1)
    wait_until(lambda: deliveries(harness, other, failing["id"])[0]["status"] == "failed",
               what="failed after retries")
    row = deliveries(harness, other, failing["id"])[0]
    assert row["attempts"] == len(harness.settings.webhook_retry_schedule) + 1
    assert row["responseStatus"] == 500
    sent = [r for r in receiver.requests if r.webhook_id == row["eventId"]]
    assert len(sent) == row["attempts"]


def test_redirects_are_not_followed(harness: Harness, tenant: Tenant, receiver: Receiver) -> None:
    receiver.status_for = lambda got: 302 if got.path == "/hooks" else 200
    hook = subscribe(harness, tenant, receiver.url)
    balance_alert(harness, tenant, "5")
    spend_usd(harness, tenant, "x1", 1)
    receiver.wait_for(2)  # the first attempt and a retry, both to the registered path
    assert {r.path for r in receiver.requests} == {"/hooks"}
    assert deliveries(harness, tenant, hook["id"])[0]["responseStatus"] == 302


def test_rotation_signs_with_both_secrets_and_replay_keeps_the_id(
    harness: Harness, tenant: Tenant, receiver: Receiver
) -> None:
    hook = subscribe(harness, tenant, receiver.url)
    balance_alert(harness, tenant, "5")
    spend_usd(harness, tenant, "s1", 1)
    first = receiver.wait_for(1)[0]
    assert len(first.headers["webhook-signature"].split(" ")) == 1
    path = f"{HOOKS}/{hook['id']}"
    new_secret = harness.client.post(f"{path}/rotate-secret", headers=tenant.admin
                                     ).json()["secret"]
    wait_until(lambda: deliveries(harness, tenant, hook["id"])[0]["status"] == "delivered",
               what="delivered")
    answer = harness.client.post(f"{path}/replay", headers=tenant.admin,
                                 json={"eventId": first.webhook_id})
    assert answer.status_code == 202 and answer.json() == {"queued": 1}
    again = receiver.wait_for(2)[1]
    assert again.webhook_id == first.webhook_id and again.body == first.body
    assert len(again.headers["webhook-signature"].split(" ")) == 2
    assert again.verified(new_secret) == again.verified(hook["secret"]) == first.json()
    ranged = harness.client.post(f"{path}/replay", headers=tenant.admin, json={
        "since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"})
    assert ranged.json() == {"queued": 1}
    assert receiver.wait_for(3)[2].webhook_id == first.webhook_id

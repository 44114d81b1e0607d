"""key.expiring: 7 days and 1 day before a key expires, once per key and window (both
backends), delivered to a real receiver."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.harness import Harness, Tenant
from tests.support.receiver import Receiver
from tests.support.webhooks import subscribe
from usagebook.ledger.expiry import raise_expiring
from usagebook.ledger.keys import KeyType, create_key
from usagebook.store.engine import Database
from usagebook.timeutil import MS_PER_DAY, format_ms, now_ms


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def _key(harness: Harness, tenant: Tenant, expires_in: timedelta) -> tuple[str, int]:
    async def make(db: Database) -> tuple[str, int]:
        created = await create_key(db, tenant.account_id, KeyType.INFERENCE, "expiring",
                                   datetime.now(UTC) + expires_in)
        assert created.row.expires_ms is not None
        return created.row.id, created.row.expires_ms

    return harness.call(make)


def _raise_concurrently(harness: Harness, at_ms: int) -> int:
    async def work(db: Database) -> int:
        return sum(await asyncio.gather(*(raise_expiring(db, at_ms) for _ in range(4))))

    return harness.call(work)


def test_expiring_keys_raise_one_event_per_window(
    harness: Harness, tenant: Tenant, receiver: Receiver
) -> None:
    hook = subscribe(harness, tenant, receiver.url, "key.expiring")
    key_id, expires_ms = _key(harness, tenant, timedelta(days=3))
    soon_id, soon_ms = _key(harness, tenant, timedelta(hours=12))
    now = now_ms()
    # Racing scans (as several server processes would): one event per key.
    assert _raise_concurrently(harness, now) == 2
    assert _raise_concurrently(harness, now) == 0
    got = receiver.wait_for(2)
    payloads = sorted((r.verified(hook["secret"]) for r in got),
                      key=lambda p: p["data"]["expiresAt"])
    assert [p["type"] for p in payloads] == ["key.expiring", "key.expiring"]
    assert [p["data"] for p in payloads] == [
        {"accountId": tenant.account_id, "apiKeyId": soon_id, "expiresAt": format_ms(soon_ms)},
        {"accountId": tenant.account_id, "apiKeyId": key_id, "expiresAt": format_ms(expires_ms)},
    ]
    # Two and a half days on, the 3-day key enters its last day: one more event.
    later = expires_ms - MS_PER_DAY // 2
    assert _raise_concurrently(harness, later) == 1
    third = receiver.wait_for(3)[2].verified(hook["secret"])
    assert third["data"]["apiKeyId"] == key_id
    assert _raise_concurrently(harness, later) == 0
    assert len(receiver.requests) == 3

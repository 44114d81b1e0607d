"""Webhook delivery, by the `usagebook serve` processes themselves.

Each process runs one `DeliveryWorker`: it claims due deliveries (`store.outbox.claim_due`: a
lease, so each event goes out from one process at a time, and a process killed mid-attempt
leaves the row to be claimed again when the lease ends, as the same event), attempts
them concurrently, and writes each outcome. Recording never waits for it: the outbox rows are
written with the entries, and delivery runs on its own connections.

What goes on the wire is the caller's `WebhookWire` (the contract's is
`usagebook.api.webhook_events.WEBHOOK_WIRE`): the body of an event, made afresh for each attempt
from the stored event, and the headers of one attempt (its id, its time and its signatures).

One attempt: the host is resolved now and the request sent to the address found (which must be
public unless allowed), with the wire's headers, within the timeout, redirects not
followed. A 2xx is `delivered`; a 410 fails the delivery and disables the endpoint; anything
else is tried again after the schedule's next delay (with jitter), then `failed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from usagebook.ledger.expiry import raise_expiring
from usagebook.ledger.limit_resets import raise_resets
from usagebook.ledger.webhook_urls import UnsafeTarget, resolve
from usagebook.settings import Settings
from usagebook.store import outbox
from usagebook.store import webhooks as endpoint_store
from usagebook.store.engine import Database
from usagebook.store.outbox import DELIVERED, FAILED, PENDING, Claimed, EventRow
from usagebook.timeutil import now_ms

log = logging.getLogger("usagebook.webhooks")
LEASE_MARGIN_S = 5.0  # a lease outlasts the attempt's timeout by this much
BATCH = 16  # deliveries claimed at once by one process
JITTER = 0.1  # each delay is moved by up to 10% either way
EXPIRY_SCAN_MS = 60_000


@dataclass(frozen=True, slots=True)
class WebhookWire:
    """How an event is sent: `body(event)`, and `headers(secrets, event_id, unix_seconds, body)`
    for one attempt (signed with every secret given)."""

    body: Callable[[EventRow], bytes]
    headers: Callable[[Sequence[str], str, int, bytes], dict[str, str]]


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    next_attempt_ms: int | None
    response_status: int | None
    duration_ms: int


class DeliveryWorker:
    def __init__(self, db: Database, settings: Settings, wire: WebhookWire) -> None:
        self.db = db
        self.settings = settings
        self.wire = wire
        self._next_expiry_scan = 0
        self.client = httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                        timeout=settings.webhook_timeout_seconds)

    async def run(self) -> None:
        """Deliver until cancelled; errors (a database away, say) are logged and retried."""
        failing = False
        while True:
            try:
                busy = await self.run_once()
                failing = False
            except Exception:
                if not failing:  # once per streak of failures, not once per poll
                    log.exception("webhook delivery failed; retrying every poll")
                failing, busy = True, 0
            if not busy:
                await asyncio.sleep(self.settings.webhook_poll_seconds)

    async def run_once(self) -> int:
        """Claim and attempt what is due now; returns how many were attempted. About once a
        minute, first raise the events that time has made due (key.expiring, key.limit.reset)."""
        now = now_ms()
        if now >= self._next_expiry_scan:
            self._next_expiry_scan = now + EXPIRY_SCAN_MS
            await raise_expiring(self.db, now)
            await raise_resets(self.db, now)
        async with self.db.read() as conn:
            if not await outbox.any_due(conn, now):
                return 0
        lease_s = self.settings.webhook_timeout_seconds + LEASE_MARGIN_S
        async with self.db.write() as conn:
            claimed = await outbox.claim_due(conn, now=now, lease_until=now + int(lease_s * 1000),
                                             claim=secrets.token_hex(8), limit=BATCH)
        await asyncio.gather(*(self._deliver(item) for item in claimed))
        return len(claimed)

    async def _deliver(self, claimed: Claimed) -> None:
        outcome = await self._attempt(claimed)
        async with self.db.write() as conn:
            if not await outbox.finish_attempt(
                conn, claimed, status=outcome.status, next_attempt_ms=outcome.next_attempt_ms,
                response_status=outcome.response_status, duration_ms=outcome.duration_ms,
            ):
                return  # the lease ran out and another claim took the row over
            if outcome.response_status == 410:
                # Its other deliveries wait, pending, in case its owner enables it again.
                await endpoint_store.disable_endpoint(conn, claimed.endpoint_id)

    async def _attempt(self, claimed: Claimed) -> Outcome:
        started = time.monotonic()
        status = await self._post(claimed)
        duration = int((time.monotonic() - started) * 1000)
        if status is not None and 200 <= status < 300:
            return Outcome(DELIVERED, None, status, duration)
        if status == 410:
            return Outcome(FAILED, None, status, duration)
        schedule = self.settings.webhook_retry_schedule
        if claimed.attempts > len(schedule):
            return Outcome(FAILED, None, status, duration)
        delay = schedule[claimed.attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)
        return Outcome(PENDING, now_ms() + int(delay * 1000), status, duration)

    async def _post(self, claimed: Claimed) -> int | None:
        """The receiver's status code, or None when no answer came (refused, unreachable,
        timed out)."""
        body = self.wire.body(claimed.event)
        headers = self.wire.headers(claimed.secrets, claimed.event.id, int(time.time()), body)
        try:
            async with asyncio.timeout(self.settings.webhook_timeout_seconds):
                target = await resolve(claimed.url,
                                       allow_private=self.settings.webhook_allow_private)
                extensions = {"sni_hostname": target.server_name} if target.server_name else {}
                request = self.client.build_request(
                    "POST", target.url, content=body, headers={**headers, "host": target.host},
                    extensions=extensions,
                )
                # The body is never read: the status is all an attempt needs.
                response = await self.client.send(request, stream=True)
                await response.aclose()
                return response.status_code
        except UnsafeTarget as exc:
            log.warning("webhook %s not sent to %s: %s", claimed.event.id, claimed.endpoint_id,
                        exc)
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            log.info("webhook %s to %s: %s", claimed.event.id, claimed.endpoint_id,
                     type(exc).__name__)
        return None

    async def close(self) -> None:
        await self.client.aclose()


@asynccontextmanager
async def delivering(
    db: Database, settings: Settings, wire: WebhookWire
) -> AsyncIterator[DeliveryWorker | None]:
    """Run a delivery worker, sending each event as `wire` says, in the background for the
    block (a server's lifetime), unless the settings turn delivery off in this process."""
    if not settings.webhook_delivery:
        yield None
        return
    worker = DeliveryWorker(db, settings, wire)
    task = asyncio.create_task(worker.run(), name="usagebook-webhook-delivery")
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await worker.close()

"""The outbox: alert events, and one delivery row per (endpoint, event) for the workers.

An event is written in the transaction that caused it, together with a pending delivery to each
enabled endpoint of its account that subscribes to its type (`add_events`; PostgreSQL's write
path does the same in its one statement, `store.write_postgresql`). Delivery workers in every server
process claim due rows (`claim_due`): on PostgreSQL with FOR UPDATE SKIP LOCKED, so two
processes never claim one row; on SQLite in one UPDATE inside an exclusive write transaction.
A claim is a lease: it moves the row's next attempt to the lease's end, so a process that dies
mid-attempt leaves the row to be claimed again then (the same event id, so the
same delivery id on the wire). A finished attempt is written only by the claim that made it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal

from sqlalchemy import and_, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.tables.alerts import alert_events as ae
from usagebook.store.tables.webhooks import webhook_deliveries as wd
from usagebook.store.tables.webhooks import webhook_endpoints as we
from usagebook.store.tables.webhooks import webhook_subscriptions as ws

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True, slots=True)
class EventRow:
    id: str
    account_id: str
    type: str
    created_ms: int
    api_key_id: str | None = None
    currency: str | None = None
    threshold: Decimal | None = None
    amount: Decimal | None = None
    limit_amount: Decimal | None = None
    limit_period: str | None = None
    period_start_ms: int | None = None
    expires_ms: int | None = None


_EVENT_COLUMNS = tuple(ae.c[name] for name in EventRow.__slots__)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this process holds the lease of, with what it needs to attempt it."""

    delivery_id: int
    claim: str
    attempts: int  # this attempt included
    endpoint_id: str
    url: str
    secrets: tuple[str, ...]  # every secret that signs now (two during a rotation's overlap)
    event: EventRow


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    event_id: str
    type: str
    attempts: int
    status: str
    response_status: int | None
    duration_ms: int | None
    created_ms: int
    next_attempt_ms: int | None


async def add_events(conn: AsyncConnection, events: Sequence[EventRow]) -> None:
    """Store events and queue a delivery of each to every enabled endpoint subscribed to it."""
    if not events:
        return
    await conn.execute(ae.insert(), [asdict(event) for event in events])
    subscribed = (
        select(ae.c.account_id, ws.c.endpoint_id, ae.c.id, literal(PENDING), literal(0),
               ae.c.created_ms, ae.c.created_ms)
        .select_from(ae)
        .join(ws, and_(ws.c.account_id == ae.c.account_id, ws.c.event_type == ae.c.type))
        .join(we, and_(we.c.id == ws.c.endpoint_id, we.c.account_id == ws.c.account_id,
                       we.c.enabled))
        .where(ae.c.id.in_([event.id for event in events]))
    )
    columns = ["account_id", "endpoint_id", "event_id", "status", "attempts", "next_attempt_ms",
               "created_ms"]
    await conn.execute(wd.insert().from_select(columns, subscribed))


async def any_due(conn: AsyncConnection, now: int) -> bool:
    """Whether a delivery is due (a read, so an idle SQLite poll takes no write lock)."""
    query = select(wd.c.id).where(wd.c.status == PENDING, wd.c.next_attempt_ms <= now).limit(1)
    return (await conn.execute(query)).first() is not None


async def claim_due(
    conn: AsyncConnection, *, now: int, lease_until: int, claim: str, limit: int
) -> list[Claimed]:
    """Claim up to `limit` due deliveries of enabled endpoints, oldest due first: each attempt
    is counted now, and the row is not due again before `lease_until`."""
    due = (
        select(wd.c.id)
        .join(we, and_(we.c.id == wd.c.endpoint_id, we.c.account_id == wd.c.account_id))
        .where(wd.c.status == PENDING, wd.c.next_attempt_ms <= now, we.c.enabled)
        .order_by(wd.c.next_attempt_ms).limit(limit)
        .with_for_update(of=wd, skip_locked=True)
    )
    claimed = (await conn.execute(
        update(wd).where(wd.c.id.in_(due.scalar_subquery()))
        .values(next_attempt_ms=lease_until, claim=claim, attempts=wd.c.attempts + 1)
        .returning(wd.c.id, wd.c.attempts, wd.c.endpoint_id, wd.c.event_id)
    )).all()
    if not claimed:
        return []
    endpoints = {row.id: row for row in await conn.execute(
        select(we.c.id, we.c.url, we.c.secret, we.c.previous_secret, we.c.previous_expires_ms)
        .where(we.c.id.in_({row.endpoint_id for row in claimed}))
    )}
    events = {row.id: EventRow(*row) for row in await conn.execute(
        select(*_EVENT_COLUMNS).where(ae.c.id.in_({row.event_id for row in claimed}))
    )}
    found = []
    for delivery_id, attempts, endpoint_id, event_id in claimed:
        endpoint = endpoints[endpoint_id]
        signing = [endpoint.secret]
        if endpoint.previous_secret and (endpoint.previous_expires_ms or 0) > now:
            signing.append(endpoint.previous_secret)
        found.append(Claimed(delivery_id, claim, attempts, endpoint_id, endpoint.url,
                             tuple(signing), events[event_id]))
    return found


async def finish_attempt(
    conn: AsyncConnection, claimed: Claimed, *, status: str, next_attempt_ms: int | None,
    response_status: int | None, duration_ms: int | None,
) -> bool:
    """Write an attempt's outcome, if this claim still holds the row (False when its lease
    ran out and another claim took it over)."""
    result = await conn.execute(
        update(wd).where(wd.c.id == claimed.delivery_id, wd.c.claim == claimed.claim)
        .values(status=status, next_attempt_ms=next_attempt_ms, claim=None,
                response_status=response_status, duration_ms=duration_ms)
    )
    return bool(result.rowcount)


async def list_deliveries(conn: AsyncConnection, endpoint_id: str, limit: int) -> list[DeliveryRow]:
    """An endpoint's delivery log, one row per event, newest first."""
    rows = await conn.execute(
        select(wd.c.event_id, ae.c.type, wd.c.attempts, wd.c.status, wd.c.response_status,
               wd.c.duration_ms, wd.c.created_ms, wd.c.next_attempt_ms)
        .join(ae, and_(ae.c.id == wd.c.event_id, ae.c.account_id == wd.c.account_id))
        .where(wd.c.endpoint_id == endpoint_id)
        .order_by(wd.c.created_ms.desc(), wd.c.id.desc()).limit(limit)
    )
    return [DeliveryRow(*row) for row in rows]


async def requeue(
    conn: AsyncConnection, endpoint_id: str, *, now: int, event_id: str | None = None,
    since_ms: int | None = None, until_ms: int | None = None,
) -> int:
    """Make an endpoint's deliveries (one event's, or those of events created in
    [since_ms, until_ms)) due now, with a fresh retry schedule; returns how many."""
    statement = update(wd).where(wd.c.endpoint_id == endpoint_id)
    if event_id is not None:
        statement = statement.where(wd.c.event_id == event_id)
    if since_ms is not None:
        statement = statement.where(wd.c.created_ms >= since_ms)
    if until_ms is not None:
        statement = statement.where(wd.c.created_ms < until_ms)
    result = await conn.execute(
        statement.values(status=PENDING, attempts=0, next_attempt_ms=now, claim=None)
    )
    return int(result.rowcount)

"""Queries on webhook endpoints and their subscriptions (which event types each one receives).

Every query is scoped to an account: an endpoint of another account is simply not found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.tables.webhooks import webhook_deliveries as wd
from usagebook.store.tables.webhooks import webhook_endpoints as we
from usagebook.store.tables.webhooks import webhook_subscriptions as ws


@dataclass(frozen=True, slots=True)
class EndpointRow:
    id: str
    account_id: str
    url: str
    description: str | None
    enabled: bool
    secret: str
    previous_secret: str | None
    previous_expires_ms: int | None
    created_ms: int
    event_types: tuple[str, ...] = ()


_COLUMNS = (we.c.id, we.c.account_id, we.c.url, we.c.description, we.c.enabled, we.c.secret,
            we.c.previous_secret, we.c.previous_expires_ms, we.c.created_ms)


async def insert_endpoint(conn: AsyncConnection, row: EndpointRow) -> None:
    await conn.execute(we.insert().values(
        id=row.id, account_id=row.account_id, url=row.url, description=row.description,
        enabled=row.enabled, secret=row.secret, created_ms=row.created_ms,
    ))
    await set_event_types(conn, row.account_id, row.id, row.event_types)


async def set_event_types(
    conn: AsyncConnection, account_id: str, endpoint_id: str, event_types: Sequence[str]
) -> None:
    await conn.execute(delete(ws).where(ws.c.endpoint_id == endpoint_id))
    await conn.execute(ws.insert(), [
        {"account_id": account_id, "event_type": kind, "endpoint_id": endpoint_id}
        for kind in sorted(set(event_types))
    ])


async def list_endpoints(
    conn: AsyncConnection, account_id: str, endpoint_id: str | None = None
) -> list[EndpointRow]:
    """An account's endpoints, oldest first (or only `endpoint_id`), with their event types."""
    query = select(*_COLUMNS).where(we.c.account_id == account_id)
    if endpoint_id is not None:
        query = query.where(we.c.id == endpoint_id)
    rows = (await conn.execute(query.order_by(we.c.created_ms, we.c.id))).all()
    types: dict[str, list[str]] = {}
    subscribed = select(ws.c.endpoint_id, ws.c.event_type).where(ws.c.account_id == account_id)
    for found_id, kind in await conn.execute(subscribed.order_by(ws.c.event_type)):
        types.setdefault(found_id, []).append(kind)
    return [EndpointRow(*row, event_types=tuple(types.get(row.id, ()))) for row in rows]


async def find_endpoint(
    conn: AsyncConnection, account_id: str, endpoint_id: str
) -> EndpointRow | None:
    found = await list_endpoints(conn, account_id, endpoint_id)
    return found[0] if found else None


async def update_endpoint(
    conn: AsyncConnection, account_id: str, endpoint_id: str, **values: object
) -> bool:
    """Set columns of an account's endpoint; False when there is no such endpoint."""
    statement = update(we).where(we.c.account_id == account_id, we.c.id == endpoint_id)
    result = await conn.execute(statement.values(**values))
    return bool(result.rowcount)


async def disable_endpoint(conn: AsyncConnection, endpoint_id: str) -> None:
    """A 410 Gone: the endpoint is disabled (its owner may enable it again)."""
    await conn.execute(update(we).where(we.c.id == endpoint_id).values(enabled=False))


async def delete_endpoint(conn: AsyncConnection, account_id: str, endpoint_id: str) -> bool:
    """Delete an account's endpoint with its subscriptions and delivery log."""
    owned = select(we.c.id).where(we.c.account_id == account_id, we.c.id == endpoint_id)
    if (await conn.execute(owned)).first() is None:
        return False
    await conn.execute(delete(ws).where(ws.c.endpoint_id == endpoint_id))
    await conn.execute(delete(wd).where(wd.c.endpoint_id == endpoint_id))
    await conn.execute(delete(we).where(we.c.id == endpoint_id))
    return True

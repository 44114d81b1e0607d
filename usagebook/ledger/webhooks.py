"""Webhook endpoints of an account: registration (the secret is shown once), reading, changes,
deletion, secret rotation, the delivery log and replays.

Every operation is scoped to the caller's account: another account's endpoint is NotFound.
Problems name fields by their domain names (`event_types`), as `usagebook.errors` says.
A URL is checked for its form and resolved at registration (and at every delivery attempt,
`ledger.delivery`): one that reaches a private address is refused unless the operator allows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from usagebook.errors import InvalidInput, NotFound, ProblemCollector
from usagebook.ledger.accounts import require_account
from usagebook.ledger.alert_events import EVENT_TYPES
from usagebook.ledger.ids import new_id
from usagebook.ledger.signing import new_secret
from usagebook.ledger.webhook_urls import UnsafeTarget, resolve, url_problem
from usagebook.store import outbox
from usagebook.store import webhooks as store
from usagebook.store.engine import Database
from usagebook.store.outbox import DeliveryRow
from usagebook.store.webhooks import EndpointRow
from usagebook.timeutil import now_ms

ROTATION_OVERLAP_MS = 24 * 3_600_000  # both secrets sign for a day after a rotation
MAX_DESCRIPTION = 500
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class EndpointChange:
    """A PATCH: only the fields given change."""

    url: str | None = None
    event_types: Sequence[str] | None = None
    description: str | None = _UNSET
    enabled: bool | None = None


async def _checked_url(url: str | None, problems: ProblemCollector, allow_private: bool) -> str:
    if not url:
        problems.add("url", "is required (an http:// or https:// URL)")
        return ""
    if problem := url_problem(url):
        problems.add("url", problem)
        return url
    try:
        await resolve(url, allow_private=allow_private)
    except UnsafeTarget as exc:
        problems.add("url", str(exc))
    return url


def _checked_types(types: Sequence[str], problems: ProblemCollector) -> tuple[str, ...]:
    if not types:
        problems.add("event_types", "must list at least one event type")
        return ()
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        problems.add("event_types", f"unknown {unknown}; known: {', '.join(EVENT_TYPES)}")
    return tuple(sorted(set(types) - set(unknown)))


def _checked_description(description: str | None, problems: ProblemCollector) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        problems.add("description", f"must be text of at most {MAX_DESCRIPTION} characters")
        return None
    return description


async def create_endpoint(
    db: Database, account_id: str, url: str | None, event_types: Sequence[str],
    description: str | None = None, *, allow_private: bool,
) -> EndpointRow:
    """Register an endpoint, enabled; the returned row carries the secret (shown once)."""
    problems = ProblemCollector()
    checked_url = await _checked_url(url, problems, allow_private)
    types = _checked_types(event_types, problems)
    text = _checked_description(description, problems)
    problems.raise_if_any()
    row = EndpointRow(new_id("whk"), account_id, checked_url, text, True, new_secret(), None,
                      None, now_ms(), types)
    async with db.write() as conn:
        await require_account(conn, account_id)
        await store.insert_endpoint(conn, row)
    return row


async def list_endpoints(db: Database, account_id: str) -> list[EndpointRow]:
    async with db.read() as conn:
        return await store.list_endpoints(conn, account_id)


async def get_endpoint(db: Database, account_id: str, endpoint_id: str) -> EndpointRow:
    async with db.read() as conn:
        return _found(await store.find_endpoint(conn, account_id, endpoint_id), endpoint_id)


async def update_endpoint(
    db: Database, account_id: str, endpoint_id: str, change: EndpointChange, *,
    allow_private: bool,
) -> EndpointRow:
    problems = ProblemCollector()
    values: dict[str, object] = {}
    if change.url is not None:
        values["url"] = await _checked_url(change.url, problems, allow_private)
    types = None if change.event_types is None else _checked_types(change.event_types, problems)
    if change.description is not _UNSET:
        values["description"] = _checked_description(change.description, problems)
    if change.enabled is not None:
        values["enabled"] = change.enabled
    problems.raise_if_any()
    async with db.write() as conn:
        row = _found(await store.find_endpoint(conn, account_id, endpoint_id), endpoint_id)
        if values:
            await store.update_endpoint(conn, account_id, endpoint_id, **values)
        if types is not None:
            await store.set_event_types(conn, account_id, endpoint_id, types)
        return _found(await store.find_endpoint(conn, account_id, row.id), endpoint_id)


async def delete_endpoint(db: Database, account_id: str, endpoint_id: str) -> None:
    async with db.write() as conn:
        if not await store.delete_endpoint(conn, account_id, endpoint_id):
            raise NotFound(f"No webhook endpoint {endpoint_id}")


async def rotate_secret(db: Database, account_id: str, endpoint_id: str) -> str:
    """A new secret; the old one keeps signing (beside it) for ROTATION_OVERLAP_MS."""
    secret = new_secret()
    async with db.write() as conn:
        row = _found(await store.find_endpoint(conn, account_id, endpoint_id), endpoint_id)
        await store.update_endpoint(conn, account_id, endpoint_id, secret=secret,
                                    previous_secret=row.secret,
                                    previous_expires_ms=now_ms() + ROTATION_OVERLAP_MS)
    return secret


async def list_deliveries(
    db: Database, account_id: str, endpoint_id: str, limit: int
) -> list[DeliveryRow]:
    """The endpoint's delivery log, one row per event (its latest attempt), newest first."""
    if not 1 <= limit <= 100:
        raise InvalidInput.single("limit", "must be between 1 and 100")
    async with db.read() as conn:
        _found(await store.find_endpoint(conn, account_id, endpoint_id), endpoint_id)
        return await outbox.list_deliveries(conn, endpoint_id, limit)


async def replay(
    db: Database, account_id: str, endpoint_id: str, *, event_id: str | None = None,
    since_ms: int | None = None, until_ms: int | None = None,
) -> int:
    """Deliver again (as the same event, id included) one event of the endpoint's log, or
    every event created in [since_ms, until_ms); returns how many were queued. NotFound for an
    event not in the log."""
    if (event_id is None) == (since_ms is None or until_ms is None):
        raise InvalidInput.single("event_id", "give either {event_id}, or {since} and {until}")
    if since_ms is not None and until_ms is not None and since_ms >= until_ms:
        raise InvalidInput.single("until", "must be after {since}")
    async with db.write() as conn:
        _found(await store.find_endpoint(conn, account_id, endpoint_id), endpoint_id)
        queued = await outbox.requeue(conn, endpoint_id, now=now_ms(), event_id=event_id,
                                      since_ms=since_ms, until_ms=until_ms)
    if event_id is not None and not queued:
        raise NotFound(f"No event {event_id} in this endpoint's delivery log")
    return queued


def _found(row: EndpointRow | None, endpoint_id: str) -> EndpointRow:
    if row is None:
        raise NotFound(f"No webhook endpoint {endpoint_id}")
    return row

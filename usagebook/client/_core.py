"""What the sync and async clients share: request bodies and parameters, answer parsing, and
the retry policy. No I/O here; each client only sends and waits."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from usagebook.client.errors import ClientError, Unreachable, error_for
from usagebook.client.models import Entry, Estimate, Event, Hold, RecordResult, UsagePage

MAX_EVENTS_PER_REQUEST = 1000  # the server's limit per recording request
# Statuses worth another try: the request did not happen, or happened and will answer
# `duplicate` when repeated (recording and authorize are idempotent by their request ids).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NOT_RETRIED = frozenset[int]()


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring a server's Retry-After."""

    attempts: int = 5
    base_seconds: float = 0.25
    max_seconds: float = 8.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1))
        jittered = random.uniform(0, ceiling)
        return max(jittered, min(retry_after, self.max_seconds)) if retry_after else jittered


def should_retry(answer: httpx.Response | Exception, statuses: frozenset[int]) -> bool:
    if isinstance(answer, Exception):
        return isinstance(answer, httpx.TransportError)
    return answer.status_code in statuses


def outcome(answer: httpx.Response | Exception) -> Any:
    """The parsed body of a success; raises what the client promises for anything else."""
    if isinstance(answer, Exception):
        raise Unreachable(f"cannot reach the usagebook server: {answer}") from answer
    body = parse_body(answer)
    if answer.status_code < 400:
        return body
    message = body.get("error", "") if isinstance(body, dict) else str(body)[:200]
    raise error_for(answer.status_code, message or answer.reason_phrase, body,
                    retry_after_of(answer))


def parse_body(answer: httpx.Response) -> Any:
    if "json" not in answer.headers.get("content-type", ""):
        return answer.text
    return json.loads(answer.content, parse_float=Decimal)  # exact money, never float


def retry_after_of(answer: httpx.Response) -> float | None:
    raw = answer.headers.get("retry-after", "")
    return float(raw) if raw.replace(".", "", 1).isdigit() else None


def bearer(token: str | None, what: str) -> dict[str, str]:
    if not token:
        raise ClientError(f"this call needs the client's {what}")
    return {"Authorization": f"Bearer {token}"}


# --- recording -------------------------------------------------------------------------------
def record_bodies(events: Iterable[Event]) -> Iterator[list[Event]]:
    """Events in chunks the server takes in one request."""
    chunk: list[Event] = []
    for event in events:
        chunk.append(event)
        if len(chunk) == MAX_EVENTS_PER_REQUEST:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def events_body(events: list[Event]) -> dict[str, Any]:
    return {"events": [event.to_wire() for event in events]}


def record_results(body: Any, offset: int) -> list[RecordResult]:
    return [RecordResult(offset + item["index"], item["status"], Entry.from_wire(item["entry"]))
            for item in body["results"]]


# --- reading ---------------------------------------------------------------------------------
def usage_params(*, currency: str | None, start: datetime | str | None,
                 end: datetime | str | None, limit: int, page: int,
                 sort_order: str) -> dict[str, str]:
    params = {"limit": str(limit), "page": str(page), "sortOrder": sort_order}
    return params | _filters(currency=currency, startDate=start, endDate=end)


def usage_page(body: Any) -> UsagePage:
    paging = body["pagination"]
    return UsagePage([Entry.from_wire(e) for e in body["data"]], int(paging["page"]),
                     int(paging["limit"]), int(paging["total"]), int(paging["totalPages"]))


def history_params(*, currency: str | None, start: datetime | str | None,
                   end: datetime | str | None, page_size: int) -> dict[str, str]:
    return {"pageSize": str(page_size)} | _filters(
        currency=currency, startTimestamp=start, endTimestamp=end)


def history_page(body: Any) -> tuple[list[Entry], str | None]:
    return [Entry.from_wire(e) for e in body["data"]], body.get("nextCursor")


def _filters(**values: datetime | str | None) -> dict[str, str]:
    return {name: _text(value) for name, value in values.items() if value is not None}


def _text(value: datetime | str) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


# --- authorize -------------------------------------------------------------------------------
def authorize_body(*, estimate: Estimate, api_key_id: str | None, api_key: str | None,
                   hold_seconds: int | None, request_id: str | None,
                   client_address: str | None) -> dict[str, Any]:
    if (api_key_id is None) == (api_key is None):
        raise ValueError("authorize names exactly one of api_key_id and api_key")
    body: dict[str, Any] = {"estimate": estimate.to_wire(),
                            # Always sent, so a retry cannot make a second hold.
                            "requestId": request_id or f"auth_{uuid.uuid4().hex}"}
    optional = {"apiKeyId": api_key_id, "apiKey": api_key, "holdSeconds": hold_seconds,
                "clientAddress": client_address}
    return body | {name: value for name, value in optional.items() if value is not None}


def hold(body: Any) -> Hold:
    return Hold.from_wire(body)


def jsonable(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()

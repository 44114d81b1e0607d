"""An alert event's webhook request as the contract writes it: its body, and the Standard
Webhooks headers (`api.webhook_signing`), for the ledger's delivery worker (`WEBHOOK_WIRE`).

The body is rendered from the stored event, so every attempt and every replay of one event
sends the same bytes (only `webhook-timestamp` and the signature change).
"""

from __future__ import annotations

from typing import Any

import orjson

from usagebook.api.webhook_signing import webhook_headers
from usagebook.ledger.alert_events import BALANCE_LOW, KEY_EXPIRING, KEY_RESET
from usagebook.ledger.delivery import WebhookWire
from usagebook.ledger.records import EventRow
from usagebook.money import format_decimal
from usagebook.timeutil import format_ms


def event_data(event: EventRow) -> dict[str, Any]:
    """The event's `data`, money as exact decimal strings."""
    data: dict[str, Any] = {"accountId": event.account_id}
    if event.api_key_id is not None:
        data["apiKeyId"] = event.api_key_id
    if event.type == BALANCE_LOW:
        data.update(currency=event.currency, balance=_exact(event.amount),
                    threshold=_exact(event.threshold))
    elif event.type == KEY_EXPIRING:
        data["expiresAt"] = format_ms(event.expires_ms or 0)
    elif event.type == KEY_RESET:
        data.update(limitPeriod=event.limit_period, periodStart=_moment(event.period_start_ms))
    else:  # the limit events
        data.update(
            currency=event.currency, threshold=int(event.threshold or 0),
            limit=_exact(event.limit_amount), periodUsage=_exact(event.amount),
            limitPeriod=event.limit_period, periodStart=_moment(event.period_start_ms),
        )
    return data


def event_body(event: EventRow) -> bytes:
    return orjson.dumps({"type": event.type, "timestamp": format_ms(event.created_ms),
                         "data": event_data(event)})


WEBHOOK_WIRE = WebhookWire(event_body, webhook_headers)


def _exact(value: object) -> str | None:
    return None if value is None else format_decimal(value)  # type: ignore[arg-type]


def _moment(epoch_ms: int | None) -> str | None:
    return None if epoch_ms is None else format_ms(epoch_ms)

"""Wire models of alerts and webhooks (their bodies, read by `api.body.read_small`, and the
documentation of /openapi.json), and the converters that build their answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from usagebook.api.schemas import Timestamp
from usagebook.ledger.alert_events import EVENT_TYPES
from usagebook.ledger.alerts import BALANCE_CURRENCIES, AlertSettings
from usagebook.ledger.records import DeliveryRow, EndpointRow
from usagebook.money import format_decimal
from usagebook.strict_model import StrictModel
from usagebook.timeutil import format_ms

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
DecimalText = str
BalanceCurrency = Literal[BALANCE_CURRENCIES]  # type: ignore[valid-type]


class NewWebhook(StrictModel):
    url: str = Field(max_length=2048, examples=["https://example.com/hooks/usagebook"])
    eventTypes: list[EventType] = Field(min_length=1)
    description: str | None = Field(default=None, max_length=500)


class WebhookChange(StrictModel):
    url: str | None = Field(default=None, max_length=2048)
    eventTypes: list[EventType] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


class Webhook(StrictModel):
    id: str
    url: str
    eventTypes: list[EventType]
    description: str | None
    enabled: bool
    createdAt: Timestamp


class CreatedWebhook(Webhook):
    secret: str = Field(description="whsec_...: shown only here and on rotation")


class Webhooks(StrictModel):
    data: list[Webhook]


class Secret(StrictModel):
    secret: str


class Delivery(StrictModel):
    eventId: str
    type: EventType
    attempts: int
    status: Literal["pending", "delivered", "failed"]
    responseStatus: int | None
    durationMs: int | None
    createdAt: Timestamp
    nextAttemptAt: Timestamp | None


class Deliveries(StrictModel):
    data: list[Delivery]


class Replay(StrictModel):
    eventId: str | None = None
    since: str | None = Field(default=None, description="ISO 8601 instant, included")
    until: str | None = Field(default=None, description="ISO 8601 instant, excluded")


class Queued(StrictModel):
    queued: int


class AlertSettingsBody(StrictModel):
    keyThresholds: list[int] = Field(default=[50, 80, 100], max_length=10)
    balanceBelow: dict[BalanceCurrency, DecimalText] = Field(
        default_factory=dict, description='Exact decimal amounts per currency: {"USD": "10"}'
    )


def webhook_to_wire(row: EndpointRow, *, secret: bool = False) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "id": row.id, "url": row.url, "eventTypes": list(row.event_types),
        "description": row.description, "enabled": row.enabled,
        "createdAt": format_ms(row.created_ms),
    }
    if secret:
        wire["secret"] = row.secret
    return wire


def delivery_to_wire(row: DeliveryRow) -> dict[str, Any]:
    return {
        "eventId": row.event_id, "type": row.type, "attempts": row.attempts,
        "status": row.status, "responseStatus": row.response_status,
        "durationMs": row.duration_ms, "createdAt": format_ms(row.created_ms),
        "nextAttemptAt": format_ms(row.next_attempt_ms)
        if row.status == "pending" and row.next_attempt_ms is not None else None,
    }


def alerts_to_wire(settings: AlertSettings) -> dict[str, Any]:
    return {
        "keyThresholds": list(settings.key_thresholds),
        "balanceBelow": {c: format_decimal(a) for c, a in (settings.balance_below or {}).items()},
    }


INVALID_BODY = "Invalid request body"
# Each route's wire names for the ledger's field names (api.field_names).
WEBHOOK_FIELDS = {"event_types": "eventTypes", "event_id": "eventId", "since": "since",
                  "until": "until"}
ALERT_FIELDS = {"key_thresholds": "keyThresholds", "balance_below": "balanceBelow"}


def documented_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI requestBody of a route that reads its body itself (`read_small`)."""
    schema = model.model_json_schema(mode="validation")
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": schema}}}}

"""The client's typed values and their wire forms. Money and units are `Decimal` both ways:
events send them as decimal strings, answers are parsed with JSON numbers as Decimals."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

Number = Decimal | int | str  # never float: 0.1 as a float is not 0.1


@dataclass(frozen=True)
class Event:
    """One billable usage event. `request_id` + `sku` identify it for good: sending it again
    (a retry, a replay) answers `duplicate`, never a second charge."""

    request_id: str
    sku: str
    units: Number
    api_key_id: str | None = None
    account_id: str | None = None
    timestamp: datetime | None = None  # default: when the server receives it
    notes: str | None = None
    inference_execution_time: int | None = None  # milliseconds
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    hold_id: str | None = None  # settles a hold from `authorize`
    tags: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.units, float):
            raise TypeError("units must be a Decimal, int or decimal string, not a float")
        if (self.api_key_id is None) == (self.account_id is None):
            raise ValueError("an event names exactly one of api_key_id and account_id")

    def with_hold(self, hold_id: str) -> Event:
        return replace(self, hold_id=hold_id)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"requestId": self.request_id, "sku": self.sku,
                                "units": plain_number(self.units)}
        optional = {
            "apiKeyId": self.api_key_id, "accountId": self.account_id,
            "timestamp": _iso(self.timestamp) if self.timestamp else None,
            "notes": self.notes, "inferenceExecutionTime": self.inference_execution_time,
            "promptTokens": self.prompt_tokens, "completionTokens": self.completion_tokens,
            "holdId": self.hold_id, "tags": self.tags,
        }
        wire.update({name: value for name, value in optional.items() if value is not None})
        return wire


@dataclass(frozen=True)
class Entry:
    """A ledger entry as the billing endpoints answer it (Venice's shape)."""

    timestamp: str
    sku: str
    price_per_unit_usd: Decimal
    units: Decimal
    amount: Decimal
    currency: str
    notes: str | None
    request_id: str | None
    inference_execution_time: int | None
    prompt_tokens: int | None
    completion_tokens: int | None

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Entry:
        details = wire.get("inferenceDetails") or {}
        return cls(wire["timestamp"], wire["sku"], Decimal(wire["pricePerUnitUsd"]),
                   Decimal(wire["units"]), Decimal(wire["amount"]), wire["currency"],
                   wire.get("notes"), details.get("requestId"),
                   _int(details.get("inferenceExecutionTime")),
                   _int(details.get("promptTokens")), _int(details.get("completionTokens")))


@dataclass(frozen=True)
class RecordResult:
    index: int
    status: Literal["recorded", "duplicate", "conflict"]
    entry: Entry


@dataclass(frozen=True)
class UsagePage:
    """One page of GET /billing/usage."""

    entries: list[Entry]
    page: int
    limit: int
    total: int
    total_pages: int


@dataclass(frozen=True)
class Hold:
    """An authorized estimate (POST /usage/authorize): settle it by recording events that name
    `hold_id`; until then, or until `expires_at`, it counts against limits and balance."""

    hold_id: str
    amount: Decimal
    currency: str
    expires_at: str
    api_key_id: str | None = None
    account_id: str | None = None

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Hold:
        return cls(wire["holdId"], Decimal(wire["amount"]), wire["currency"], wire["expiresAt"],
                   wire.get("apiKeyId"), wire.get("accountId"))


@dataclass(frozen=True)
class Estimate:
    """What authorize reserves: an amount, or SKUs and units (priced by the server)."""

    amount: Number | None = None
    items: list[tuple[str, Number]] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        if self.amount is not None:
            return {"amount": plain_number(self.amount)}
        return {"items": [{"sku": sku, "units": plain_number(units)}
                          for sku, units in self.items]}


def plain_number(value: Number) -> str:
    """Decimal text without exponent: str(Decimal("5") / 10**7) is "5E-7", which the server
    refuses; "0.0000005" is what it reads."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("event timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _int(value: Any) -> int | None:
    return None if value is None else int(value)

"""The API keys family on the wire: request bodies (parsed strictly: unknown fields, wrong types
and malformed dates are refused), the answers' models for /openapi.json, and the converters from
the ledger's key rows to Venice's shapes.

Quirks kept from Venice's published description: a created key's limits are `consumptionLimit`
(singular), every other key object has `consumptionLimits`; usage figures are strings with
exactly four decimals (truncated), limits are JSON numbers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from usagebook.ledger.key_usage import KeyUsage, LimitPeriod, Spend
from usagebook.ledger.keys import (
    KEEP,
    MAX_LIMIT,
    CreatedKey,
    KeyLimits,
    KeyOptions,
    KeyUpdate,
    ModelPrivacy,
)
from usagebook.ledger.records import KeyRow
from usagebook.strict_model import StrictModel
from usagebook.timeutil import format_ms, to_ms

KeyType = Literal["INFERENCE", "ADMIN"]
Period = Literal["EPOCH", "MONTH", "LIFETIME"]
Privacy = Literal["ALL", "PRIVATE_TEXT", "PRIVATE_ONLY"]
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z", re.ASCII)
EXPIRY_FORMS = 'must be "", YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[.sss]Z'
_EXPIRY_SCHEMA: list[dict[str, Any]] = [
    {"type": "string", "enum": [""]},
    {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
    {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$"},
]


def _limit(value: Any) -> Decimal | None:
    # JSON numbers arrive as int or exact Decimal (api.body); a string or bool is no number.
    if value is None or (isinstance(value, int | Decimal) and not isinstance(value, bool)):
        return None if value is None else Decimal(value)
    raise ValueError("must be a number or null")


def expiry_ms(value: Any) -> int | None:
    """Venice's expiry forms as epoch ms: "" (none), a date (its first UTC moment) or a UTC
    date-time; ValueError for anything else, impossible dates included."""
    if not isinstance(value, str):
        raise ValueError(EXPIRY_FORMS)
    if value == "":
        return None
    try:
        if _DAY.fullmatch(value):
            return to_ms(datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC))
        if _MOMENT.fullmatch(value):
            return to_ms(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        pass
    raise ValueError(EXPIRY_FORMS)


def _expiry_or_null(value: Any) -> int | None:
    return None if value is None else expiry_ms(value)


Limit = Annotated[Decimal | None, BeforeValidator(_limit), WithJsonSchema({"anyOf": [
    {"type": "number", "minimum": 0, "maximum": int(MAX_LIMIT)}, {"type": "null"}]})]
Expiry = Annotated[int | None, BeforeValidator(expiry_ms),
                   WithJsonSchema({"anyOf": _EXPIRY_SCHEMA})]
ExpiryOrNull = Annotated[int | None, BeforeValidator(_expiry_or_null),
                         WithJsonSchema({"anyOf": [*_EXPIRY_SCHEMA, {"type": "null"}]})]
Description = Annotated[str, Field(min_length=1, max_length=64)]


class LimitsBody(StrictModel):
    usd: Limit = None
    diem: Limit = None
    vcu: Limit = None

    def as_limits(self) -> KeyLimits:
        return KeyLimits(self.usd, self.diem, self.vcu)

    def sent(self) -> dict[str, Decimal | None]:
        """Only the limits the request named (an update leaves the others)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class CreateKeyBody(StrictModel):
    apiKeyType: KeyType
    description: Description
    expiresAt: Expiry = None
    consumptionLimit: LimitsBody = Field(default_factory=LimitsBody)
    limitPeriod: Period = "EPOCH"
    modelPrivacy: Privacy = "ALL"

    def to_options(self) -> KeyOptions:
        return KeyOptions(self.description, self.expiresAt, self.consumptionLimit.as_limits(),
                          LimitPeriod(self.limitPeriod), ModelPrivacy(self.modelPrivacy))


class UpdateKeyBody(StrictModel):
    """Fields left out stay as they are (so none is Optional in the schema: a null is refused),
    except `expiresAt`, where "" and null both remove the expiry."""

    id: str
    description: Description = None  # type: ignore[assignment]
    expiresAt: ExpiryOrNull = None
    consumptionLimit: LimitsBody = None  # type: ignore[assignment]
    limitPeriod: Period = None  # type: ignore[assignment]
    modelPrivacy: Privacy = None  # type: ignore[assignment]

    def to_update(self) -> KeyUpdate:
        sent = self.model_fields_set
        return KeyUpdate(
            description=self.description if "description" in sent else None,
            expires_ms=self.expiresAt if "expiresAt" in sent else KEEP,
            limits=self.consumptionLimit.sent() if "consumptionLimit" in sent else {},
            limit_period=LimitPeriod(self.limitPeriod) if "limitPeriod" in sent else None,
            model_privacy=ModelPrivacy(self.modelPrivacy) if "modelPrivacy" in sent else None,
        )


def usage_text(value: Decimal) -> str:
    """A usage figure: exactly four decimals, truncated (never rounded up)."""
    cut = value.quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
    return f"{abs(cut) if cut == 0 else cut:f}"


def _limits(row: KeyRow) -> dict[str, Decimal | None]:
    return {"usd": row.limit_usd, "diem": row.limit_diem, "vcu": row.limit_vcu}


def has_limit(row: KeyRow) -> bool:
    return any(value is not None for value in _limits(row).values())


def key_to_wire(row: KeyRow, usage: KeyUsage | None = None) -> dict[str, Any]:
    """A key object; with `usage` (list, get one) also its usage, and its current period's when
    the key has a limit."""
    wire: dict[str, Any] = {
        "id": row.id,
        "apiKeyType": row.key_type,
        "description": row.description,
        "createdAt": format_ms(row.created_ms),
        "expiresAt": moment(row.expires_ms),
        "lastUsedAt": moment(row.last_used_ms),
        "last6Chars": row.last6 or "",
        "consumptionLimits": _limits(row),
        "limitPeriod": row.limit_period,
        "modelPrivacy": row.model_privacy,
    }
    if usage is not None:
        seven = usage.trailing_seven_days
        wire["usage"] = {"trailingSevenDays": {"usd": usage_text(seven.usd),
                                               "vcu": usage_text(seven.vcu),
                                               "diem": usage_text(seven.diem)}}
        if has_limit(row):
            wire["currentPeriodUsage"] = _period(usage.current_period)
    return wire


def _period(spend: Spend) -> dict[str, str]:
    return {"usd": usage_text(spend.usd), "diem": usage_text(spend.diem)}


def moment(epoch_ms: int | None) -> str | None:
    """A key timestamp on the wire (null for none)."""
    return None if epoch_ms is None else format_ms(epoch_ms)


def created_to_wire(created: CreatedKey) -> dict[str, Any]:
    row = created.row
    return {
        "id": row.id,
        "apiKey": created.secret,
        "apiKeyType": row.key_type,
        "description": row.description,
        "expiresAt": moment(row.expires_ms),
        "consumptionLimit": _limits(row),
        "limitPeriod": row.limit_period,
        "modelPrivacy": row.model_privacy,
    }

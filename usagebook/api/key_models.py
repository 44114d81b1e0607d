"""Models of the API keys family's answers, for /openapi.json (the answers themselves are built
by `key_wire`). They follow Venice's published schemas: see tests/contract/VENICE_NOTES.md."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema

from usagebook.api.key_wire import KeyType as WireKeyType
from usagebook.api.key_wire import Period, Privacy
from usagebook.api.schemas import ExactNumber, Timestamp
from usagebook.strict_model import StrictModel

UsageText = Annotated[str, Field(pattern=r"^-?\d+\.\d{4}$", examples=["10.2424"])]
LimitNumber = Annotated[ExactNumber | None, WithJsonSchema(
    {"anyOf": [{"type": "number", "minimum": 0, "maximum": 9999999999}, {"type": "null"}]})]


class Limits(StrictModel):
    usd: LimitNumber
    diem: LimitNumber
    vcu: LimitNumber


class SevenDays(StrictModel):
    usd: UsageText
    vcu: UsageText
    diem: UsageText


class Usage(StrictModel):
    trailingSevenDays: SevenDays


class PeriodUsage(StrictModel):
    usd: UsageText
    diem: UsageText


class KeyFields(StrictModel):
    id: str
    apiKeyType: WireKeyType
    description: str
    createdAt: Timestamp
    expiresAt: Timestamp | None
    lastUsedAt: Timestamp | None
    last6Chars: str
    consumptionLimits: Limits
    limitPeriod: Period
    modelPrivacy: Privacy


class KeyWithUsage(KeyFields):
    usage: Usage
    currentPeriodUsage: PeriodUsage = Field(
        default=None, description="Only for a key with a limit.")  # type: ignore[assignment]


class KeyList(StrictModel):
    object: Literal["list"]
    data: list[KeyWithUsage]


class OneKey(StrictModel):
    data: KeyWithUsage


class Updated(StrictModel):
    success: bool
    data: KeyFields


class CreatedData(StrictModel):
    id: str
    apiKey: str = Field(description="The secret: shown once, never again.")
    apiKeyType: WireKeyType
    description: str
    expiresAt: Timestamp | None
    consumptionLimit: Limits
    limitPeriod: Period
    modelPrivacy: Privacy


class Created(StrictModel):
    success: bool
    data: CreatedData


class Success(StrictModel):
    success: bool


class ApiTier(StrictModel):
    id: str
    isCharged: bool


class StatusBalances(StrictModel):
    USD: ExactNumber
    DIEM: ExactNumber


class ModelLimit(StrictModel):
    amount: int
    type: Literal["RPM"]


class ModelLimits(StrictModel):
    apiModelId: str
    rateLimits: list[ModelLimit]


class StatusData(StrictModel):
    accessPermitted: bool
    apiTier: ApiTier
    balances: StatusBalances
    keyExpiration: Timestamp | None
    nextEpochBegins: Timestamp
    rateLimits: list[ModelLimits]


class Status(StrictModel):
    data: StatusData


class Refusal(StrictModel):
    apiKeyId: str
    modelId: str
    rateLimitTier: str
    rateLimitType: Literal["RPD", "RPM", "TPM", "FAILED_REQUESTS", "UNSUPPORTED_FEATURE_REQUESTS"]
    timestamp: Timestamp


class RefusalList(StrictModel):
    object: Literal["list"]
    data: list[Refusal]

"""Models of the API keys family's answers, for /openapi.json (the answers themselves are built
by `key_wire`). They follow Venice's published schemas: see tests/contract/VENICE_NOTES.md."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from usagebook.api.key_wire import KeyType as WireKeyType
from usagebook.api.key_wire import Period, Privacy
from usagebook.api.schemas import ExactNumber, Timestamp

UsageText = Annotated[str, Field(pattern=r"^-?\d+\.\d{4}$", examples=["10.2424"])]
LimitNumber = Annotated[ExactNumber | None, WithJsonSchema(
    {"anyOf": [{"type": "number", "minimum": 0, "maximum": 9999999999}, {"type": "null"}]})]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Limits(_Strict):
    usd: LimitNumber
    diem: LimitNumber
    vcu: LimitNumber


class SevenDays(_Strict):
    usd: UsageText
    vcu: UsageText
    diem: UsageText


class Usage(_Strict):
    trailingSevenDays: SevenDays


class PeriodUsage(_Strict):
    usd: UsageText
    diem: UsageText


class KeyFields(_Strict):
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


class KeyList(_Strict):
    object: Literal["list"]
    data: list[KeyWithUsage]


class OneKey(_Strict):
    data: KeyWithUsage


class Updated(_Strict):
    success: bool
    data: KeyFields


class CreatedData(_Strict):
    id: str
    apiKey: str = Field(description="The secret: shown once, never again.")
    apiKeyType: WireKeyType
    description: str
    expiresAt: Timestamp | None
    consumptionLimit: Limits
    limitPeriod: Period
    modelPrivacy: Privacy


class Created(_Strict):
    success: bool
    data: CreatedData


class Success(_Strict):
    success: bool


class ApiTier(_Strict):
    id: str
    isCharged: bool


class StatusBalances(_Strict):
    USD: ExactNumber
    DIEM: ExactNumber


class ModelLimit(_Strict):
    amount: int
    type: Literal["RPM"]


class ModelLimits(_Strict):
    apiModelId: str
    rateLimits: list[ModelLimit]


class StatusData(_Strict):
    accessPermitted: bool
    apiTier: ApiTier
    balances: StatusBalances
    keyExpiration: Timestamp | None
    nextEpochBegins: Timestamp
    rateLimits: list[ModelLimits]


class Status(_Strict):
    data: StatusData


class Refusal(_Strict):
    apiKeyId: str
    modelId: str
    rateLimitTier: str
    rateLimitType: Literal["RPD", "RPM", "TPM", "FAILED_REQUESTS", "UNSUPPORTED_FEATURE_REQUESTS"]
    timestamp: Timestamp


class RefusalList(_Strict):
    object: Literal["list"]
    data: list[Refusal]

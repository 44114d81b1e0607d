"""Usage events as the inference platform sends them, and their validation.

One event is one billable line: `(account, requestId, sku)` identifies it in the ledger. The
endpoint and `usagebook import` share this model; every problem of every event is reported at
once, by path (`events.<index>.<field>`), before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from usagebook.errors import ProblemCollector
from usagebook.money import LEGACY_VCU, Currency, NotExact, parse_decimal
from usagebook.timeutil import to_ms

MAX_EVENTS = 1000
MAX_UNITS = Decimal(1_000_000_000)  # keeps every amount within SQLite's 64-bit nano-units
MAX_INT32 = 2_147_483_647


def _units(value: Any) -> Decimal:
    try:
        units = parse_decimal(value)
    except NotExact as exc:
        raise PydanticCustomError("units", str(exc)) from None
    if not 0 < units < MAX_UNITS:
        raise PydanticCustomError("units", "must be greater than 0 and less than 1000000000")
    return units


def _timestamp(value: Any) -> int:
    problem = "must be an ISO 8601 date-time with a time zone, e.g. 2026-06-15T19:05:10.504Z"
    if not isinstance(value, str):
        raise PydanticCustomError("timestamp", problem)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PydanticCustomError("timestamp", problem) from None
    if moment.tzinfo is None:
        raise PydanticCustomError("timestamp", problem)
    return to_ms(moment)


def _stored_currency(value: str) -> str:
    # Venice's legacy VCU is stored as DIEM: usagebook never writes VCU.
    return Currency.DIEM.value if value == LEGACY_VCU else value


# PostgreSQL text cannot hold NUL (it failed the whole request with a 500): refused as input.
NO_NUL = r"^[^\x00]*$"
Text200 = Annotated[str, Strict(), Field(min_length=1, max_length=200, pattern=NO_NUL)]
Id40 = Annotated[str, Strict(), Field(min_length=1, max_length=40, pattern=NO_NUL)]
Count = Annotated[int, Strict(), Field(ge=0, le=MAX_INT32)]


class UsageEvent(BaseModel):
    """One validated event. `model_fields_set` says which fields the client sent, which is what
    a repeat is compared on (duplicate or conflict)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    request_id: Text200 = Field(alias="requestId")
    sku: Text200
    units: Annotated[
        Decimal,
        BeforeValidator(_units),
        WithJsonSchema({"type": ["string", "number"], "description": "> 0, at most 9 decimals"}),
    ]
    api_key_id: Id40 | None = Field(
        None, alias="apiKeyId"
    )
    account_id: Id40 | None = Field(
        None, alias="accountId"
    )
    ts_ms: (
        Annotated[
            int,
            BeforeValidator(_timestamp),
            WithJsonSchema({"type": "string", "format": "date-time"}),
        ]
        | None
    ) = Field(None, alias="timestamp")
    notes: Annotated[str, Strict(), Field(max_length=2000, pattern=NO_NUL)] | None = None
    execution_ms: Count | None = Field(None, alias="inferenceExecutionTime")
    prompt_tokens: Count | None = Field(None, alias="promptTokens")
    completion_tokens: Count | None = Field(None, alias="completionTokens")
    # Only `usagebook import` may carry a currency (history from another ledger); live events
    # get theirs from the consumption order.
    currency: (
        Annotated[
            Literal["USD", "DIEM", "BUNDLED_CREDITS", "VCU"], AfterValidator(_stored_currency)
        ]
        | None
    ) = None


_ONE = TypeAdapter(UsageEvent)
_MANY = TypeAdapter(list[UsageEvent])
# Field names as the client writes them, for error paths and duplicate checks.
WIRE_NAMES = {name: field.alias or name for name, field in UsageEvent.model_fields.items()}


def parse_batch(body: Any, problems: ProblemCollector) -> list[UsageEvent | None]:
    """Validate `{"events": [...]}`. Returns one item per event (None where it is invalid) and
    adds every problem found to `problems` under `events.<index>.<field>`."""
    if not isinstance(body, dict) or set(body) != {"events"}:
        problems.add("", 'the body must be a JSON object {"events": [...]} and nothing else')
        return []
    events = body["events"]
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
        problems.add("events", f"must be a list of 1 to {MAX_EVENTS} events")
        return []
    return parse_events(events, problems)


def parse_events(events: Sequence[Any], problems: ProblemCollector) -> list[UsageEvent | None]:
    try:  # one call for the whole batch is the fast path; errors are rare
        return list(_MANY.validate_python(events))
    except ValidationError:
        pass
    parsed: list[UsageEvent | None] = []
    for index, raw in enumerate(events):
        try:
            parsed.append(_ONE.validate_python(raw))
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                field = ".".join(str(part) for part in error["loc"])
                problems.add(
                    f"events.{index}.{field}" if field else f"events.{index}", error["msg"]
                )
            parsed.append(None)
    return parsed

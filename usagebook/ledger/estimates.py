"""The body of POST /usage/authorize: who asks (a key by id or by secret), for what estimate.

Bodies are read with every JSON number exact (`ledger.events.decode_body`) and validated here
with pydantic, whose errors become one InvalidInput naming every bad field at once. An estimate
is an amount, one SKU's units, or several SKUs' units (one inference call may bill several);
it is priced from the catalog at the moment of asking, exactly as recording prices usage.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import (
    BeforeValidator,
    Field,
    Strict,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from usagebook.errors import InvalidInput, ProblemCollector
from usagebook.ledger.events import MAX_UNITS, NO_NUL, Id40, Text200
from usagebook.ledger.pricing import MAX_CHARGE
from usagebook.money import NotExact, charge_amount, format_decimal, parse_decimal
from usagebook.strict_model import StrictInput

INVALID_BODY = "Invalid authorize request"
DEFAULT_HOLD_SECONDS = 300
MAX_ITEMS = 100


def _positive(limit: Decimal, kind: str) -> Any:
    def check(value: Any) -> Decimal:
        try:
            number = parse_decimal(value)
        except NotExact as exc:
            raise PydanticCustomError(kind, str(exc)) from None
        if not 0 < number <= limit:
            raise PydanticCustomError(kind, f"must be greater than 0 and at most {limit}")
        return number

    return BeforeValidator(check)


_DECIMAL_SCHEMA = WithJsonSchema(
    {"type": ["string", "number"], "description": "> 0, at most 9 decimals"}
)
Units = Annotated[Decimal, _positive(MAX_UNITS, "units"), _DECIMAL_SCHEMA]
Amount = Annotated[Decimal, _positive(MAX_CHARGE, "amount"), _DECIMAL_SCHEMA]


class EstimateItem(StrictInput):
    sku: Text200
    units: Units


class Estimate(StrictInput):
    """Exactly one of: `amount`; `sku` and `units`; `items`."""

    amount: Amount | None = None
    sku: Text200 | None = None
    units: Units | None = None
    items: Annotated[list[EstimateItem], Field(min_length=1, max_length=MAX_ITEMS)] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        forms = [self.amount is not None, self.sku is not None or self.units is not None,
                 self.items is not None]
        if forms.count(True) != 1 or (forms[1] and (self.sku is None or self.units is None)):
            raise PydanticCustomError(
                "estimate", 'must be {"amount"}, {"sku", "units"} or {"items": [{"sku", "units"}]}'
            )
        return self

    def lines(self) -> list[EstimateItem]:
        """The SKUs and units to price (none for an amount)."""
        if self.items is not None:
            return list(self.items)
        if self.sku is not None and self.units is not None:
            return [EstimateItem(sku=self.sku, units=self.units)]
        return []

    def fingerprint(self) -> str:
        """A digest equal for equal estimates (numbers compared by value, one SKU the same as
        a one-item list, items in any order): a repeated requestId must bring the same one."""
        if self.amount is not None:
            text = "amount:" + format_decimal(self.amount)
        else:
            text = "items:" + "\n".join(sorted(
                f"{line.sku}\t{format_decimal(line.units)}" for line in self.lines()
            ))
        return hashlib.sha256(text.encode()).hexdigest()


Secret = Annotated[str, Strict(), Field(min_length=1, max_length=200, pattern=NO_NUL)]


class AuthorizeBody(StrictInput):
    """Exactly one of `apiKeyId` and `apiKey` (a customer's secret, never logged or echoed)."""

    api_key_id: Id40 | None = Field(None, alias="apiKeyId")
    api_key: Secret | None = Field(None, alias="apiKey")
    estimate: Estimate
    hold_seconds: Annotated[int, Strict(), Field(ge=1, le=3600)] = Field(
        DEFAULT_HOLD_SECONDS, alias="holdSeconds"
    )
    request_id: Text200 | None = Field(None, alias="requestId")
    client_address: Annotated[str, Strict(), Field(max_length=100, pattern=NO_NUL)] | None = Field(
        None, alias="clientAddress"
    )

    @model_validator(mode="after")
    def _one_key(self) -> Self:
        if (self.api_key_id is None) == (self.api_key is None):
            raise PydanticCustomError("apiKeyId", "exactly one of apiKeyId and apiKey is required")
        return self


def parse_body(body: Any) -> AuthorizeBody:
    """Validate the body; InvalidInput names every problem (`estimate.items.0.units`)."""
    try:
        return AuthorizeBody.model_validate(body)
    except ValidationError as exc:
        problems = ProblemCollector()
        for error in exc.errors(include_url=False):
            problems.add(".".join(str(part) for part in error["loc"]), error["msg"])
        raise InvalidInput(problems.problems, INVALID_BODY) from None


def price_estimate(
    estimate: Estimate, prices: dict[str, Decimal], problems: ProblemCollector
) -> Decimal:
    """The estimate's cost (positive): its amount, or its lines priced as recording prices them
    (each rounded half-even to nine places, then summed). Unknown SKUs, and a cost above
    MAX_CHARGE, are added to `problems`."""
    if estimate.amount is not None:
        return estimate.amount
    total = Decimal(0)
    for index, line in enumerate(estimate.lines()):
        price = prices.get(line.sku)
        if price is None:
            where = "estimate.sku" if estimate.items is None else f"estimate.items.{index}.sku"
            problems.add(where, "is not in the SKU catalog")
            continue
        total -= charge_amount(price, line.units)
    if total > MAX_CHARGE:
        problems.add("estimate", f"the estimated cost exceeds {MAX_CHARGE} USD")
    return total

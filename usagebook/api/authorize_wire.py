"""The body of POST /usage/authorize as the gateway sends it, read into the ledger's
`AuthorizeRequest` (`ledger.estimates`).

Read as strict JSON with every number exact (`api.body.read_json`) and validated with pydantic,
whose errors become one InvalidInput naming every bad field at once. The models' names are the
OpenAPI schema's.
"""

from __future__ import annotations

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

from usagebook.api.event_wire import NO_NUL, Id40, Text200
from usagebook.errors import ProblemCollector
from usagebook.ledger import estimates as domain
from usagebook.ledger.events import MAX_UNITS
from usagebook.ledger.pricing import MAX_CHARGE
from usagebook.money import NotExact, parse_decimal
from usagebook.plain_errors import add_errors
from usagebook.strict_model import StrictInput

# The wire names of the ledger's field names in the route's errors (api.field_names).
AUTHORIZE_FIELDS = {"api_key_id": "apiKeyId", "request_id": "requestId"}


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
    items: Annotated[
        list[EstimateItem], Field(min_length=1, max_length=domain.MAX_ITEMS)
    ] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        forms = [self.amount is not None, self.sku is not None or self.units is not None,
                 self.items is not None]
        if forms.count(True) != 1 or (forms[1] and (self.sku is None or self.units is None)):
            raise PydanticCustomError(
                "estimate", 'must be {"amount"}, {"sku", "units"} or {"items": [{"sku", "units"}]}'
            )
        return self

    def to_domain(self) -> domain.Estimate:
        if self.items is not None:
            items = tuple(domain.EstimateItem(item.sku, item.units) for item in self.items)
            return domain.Estimate(items=items, itemized=True)
        if self.sku is not None and self.units is not None:
            return domain.Estimate(items=(domain.EstimateItem(self.sku, self.units),))
        return domain.Estimate(amount=self.amount)


Secret = Annotated[str, Strict(), Field(min_length=1, max_length=200, pattern=NO_NUL)]


class AuthorizeBody(StrictInput):
    """Exactly one of `apiKeyId` and `apiKey` (a customer's secret, never logged or echoed)."""

    api_key_id: Id40 | None = Field(None, alias="apiKeyId")
    api_key: Secret | None = Field(None, alias="apiKey")
    estimate: Estimate
    hold_seconds: Annotated[int, Strict(), Field(ge=1, le=domain.MAX_HOLD_SECONDS)] = Field(
        domain.DEFAULT_HOLD_SECONDS, alias="holdSeconds"
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


def parse_authorize(body: Any) -> domain.AuthorizeRequest:
    """The request the body asks for; InvalidInput names every problem at once
    (`estimate.items.0.units`)."""
    try:
        parsed = AuthorizeBody.model_validate(body)
    except ValidationError as exc:
        problems = ProblemCollector()
        add_errors(problems, exc.errors(include_url=False))
        raise problems.error(domain.INVALID_BODY) from None
    return domain.AuthorizeRequest(
        parsed.estimate.to_domain(), parsed.api_key_id, parsed.api_key, parsed.hold_seconds,
        parsed.request_id,
    )

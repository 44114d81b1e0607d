"""What POST /usage/authorize asks for: who asks (a key by id or by secret), for what estimate.

The edge reads the request off the wire (`api.authorize_wire`) into an `AuthorizeRequest`,
checking each value against the limits stated here. An estimate is an amount, one SKU's units,
or several SKUs' units (one inference call may bill several); it is priced from the catalog at
the moment of asking, exactly as recording prices usage.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from usagebook.errors import ProblemCollector
from usagebook.ledger.pricing import MAX_CHARGE
from usagebook.money import charge_amount, format_decimal

INVALID_BODY = "Invalid authorize request"
DEFAULT_HOLD_SECONDS = 300
MAX_HOLD_SECONDS = 3600
MAX_ITEMS = 100


@dataclass(frozen=True, slots=True)
class EstimateItem:
    sku: str
    units: Decimal


@dataclass(frozen=True, slots=True)
class Estimate:
    """Either an `amount`, or `items` to price; `itemized` when they came as a list (else as
    one SKU and its units: its problems are named `estimate.sku`)."""

    amount: Decimal | None = None
    items: tuple[EstimateItem, ...] = ()
    itemized: bool = False

    def fingerprint(self) -> str:
        """A digest equal for equal estimates (numbers compared by value, one SKU the same as
        a one-item list, items in any order): a repeated request_id must bring the same one."""
        if self.amount is not None:
            text = "amount:" + format_decimal(self.amount)
        else:
            text = "items:" + "\n".join(sorted(
                f"{item.sku}\t{format_decimal(item.units)}" for item in self.items
            ))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    """Exactly one of `api_key_id` and `api_key` (a customer's secret, never logged)."""

    estimate: Estimate
    api_key_id: str | None = None
    api_key: str | None = None
    hold_seconds: int = DEFAULT_HOLD_SECONDS
    request_id: str | None = None


def price_estimate(
    estimate: Estimate, prices: dict[str, Decimal], problems: ProblemCollector
) -> Decimal:
    """The estimate's cost (positive): its amount, or its items priced as recording prices them
    (each rounded half-even to nine places, then summed). Unknown SKUs, and a cost above
    MAX_CHARGE, are added to `problems`."""
    if estimate.amount is not None:
        return estimate.amount
    total = Decimal(0)
    for index, item in enumerate(estimate.items):
        price = prices.get(item.sku)
        if price is None:
            where = f"estimate.items.{index}.sku" if estimate.itemized else "estimate.sku"
            problems.add(where, "is not in the SKU catalog")
            continue
        total -= charge_amount(price, item.units)
    if total > MAX_CHARGE:
        problems.add("estimate", f"the estimated cost exceeds {MAX_CHARGE} USD")
    return total

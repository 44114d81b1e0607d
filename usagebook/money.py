"""Exact money and quantity handling.

Every price, unit count and amount in usagebook is a `Decimal` with at most nine decimal places
(nano-units). Nothing on a money path is ever a float: floats are rejected on input, and output is
formatted from the Decimal itself, never through float.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from enum import StrEnum

SCALE = 9
NANO = Decimal(1).scaleb(-SCALE)  # 0.000000001
NANOS_PER_UNIT = 10**SCALE
MILLION_PLACES = 6  # a per-million-tokens SKU records 1,234 tokens as 0.001234 units
# The default context keeps 28 digits: a product of two 9-place values would be rounded there
# first (double rounding), and quantizing anything above 10**19 to nine places would fail.
# Stored values have at most 38 digits (NUMERIC(38, 9)), so 100 keeps every product exact.
EXACT = Context(prec=100, rounding=ROUND_HALF_EVEN)
# Decimal text as it is accepted: ASCII digits, one optional sign, point and exponent, nothing
# around it. Python's Decimal() alone would also take `1_0`, ` 1 `, fullwidth or Arabic-Indic
# digits, `NaN` and `Infinity`.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_LONGEST_TEXT = 100
NOT_DECIMAL_TEXT = "must be a decimal number in ASCII digits, without spaces or underscores"


class Currency(StrEnum):
    USD = "USD"
    DIEM = "DIEM"
    BUNDLED_CREDITS = "BUNDLED_CREDITS"


# Venice still lists VCU as a filter value; usagebook never stores it (imports map it to DIEM).
LEGACY_VCU = "VCU"
FILTER_CURRENCIES = (*[c.value for c in Currency], LEGACY_VCU)


class NotExact(ValueError):
    """A value that is not an exact decimal with at most nine decimal places."""


def parse_decimal(value: object) -> Decimal:
    """Parse a decimal string, int or Decimal exactly; floats are refused (they are not exact).

    Raises NotExact for anything non-finite, non-numeric, or with more than nine decimal places,
    and for text that is not plain ASCII decimal notation (see `_DECIMAL_TEXT`).
    """
    if type(value) is str:
        if len(value) > _LONGEST_TEXT:
            raise NotExact("is too long")
        if not _DECIMAL_TEXT.fullmatch(value):
            lax = _is_lax_decimal(value)  # then say what is refused in it
            raise NotExact(NOT_DECIMAL_TEXT if lax else "must be a decimal number")
        number = _parse_plain(value)
        if number is not None:
            return number
    if isinstance(value, bool | float):
        raise NotExact("must be a decimal string or an integer, not a float")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise NotExact("must be a decimal number") from exc
    if not number.is_finite():
        raise NotExact("must be a finite number")
    try:
        exact = number == number.quantize(NANO, context=EXACT)
    except InvalidOperation:  # more digits than any stored value can hold
        raise NotExact("is too large") from None
    if not exact:
        raise NotExact("must have at most 9 decimal places")
    return number


def _is_lax_decimal(text: str) -> bool:
    """Whether Python's Decimal() would take `text` (then the message says what is refused)."""
    try:
        return Decimal(text).is_finite()
    except (InvalidOperation, ValueError):
        return False


def _parse_plain(text: str) -> Decimal | None:
    """The common case, decided from the text alone (recording parses 20,000 a second): short,
    no exponent, at most nine digits after the point. None means "not sure", never "invalid"."""
    if len(text) > 60 or "e" in text or "E" in text:
        return None
    point = text.find(".")
    if point != -1 and len(text) - point - 1 > SCALE:
        return None  # perhaps trailing zeros or underscores: the general check decides
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def round_amount(value: Decimal) -> Decimal:
    """Round to nine decimal places, half-even, as the contract requires for amounts."""
    return value.quantize(NANO, context=EXACT)


def charge_amount(price_per_unit: Decimal, units: Decimal) -> Decimal:
    """An entry's amount: -(price x units) rounded half-even to nine places (negative)."""
    # copy_negate, not unary minus: the latter rounds to the default context's 28 digits.
    return round_amount(EXACT.multiply(price_per_unit, units)).copy_negate()


def to_nanos(value: Decimal) -> int:
    """Exact integer nano-units; raises NotExact if the value has finer precision."""
    scaled = value.scaleb(SCALE, context=EXACT)
    if scaled != scaled.to_integral_value():
        raise NotExact("must have at most 9 decimal places")
    return int(scaled)


def from_nanos(nanos: int) -> Decimal:
    return Decimal(nanos).scaleb(-SCALE, context=EXACT)


def format_decimal(value: Decimal) -> str:
    """Plain decimal text: no exponent, no trailing zeros, `-0` written as `0`."""
    # Plain notation unless the exponent is large, and cheaper than format() (bench/hot_choices).
    text = str(value)
    if "E" in text:
        text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text

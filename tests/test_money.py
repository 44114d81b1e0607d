"""money.py: exact parsing, half-even charges, plain formatting, nano-units."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usagebook.money import (
    NotExact,
    charge_amount,
    format_decimal,
    from_nanos,
    parse_decimal,
    round_amount,
    to_nanos,
)

nine_places = st.decimals(min_value=-(10**12), max_value=10**12, places=9, allow_nan=False,
                          allow_infinity=False)


@pytest.mark.parametrize(("raw", "expected"), [
    ("0.1", Decimal("0.1")), ("2.5", Decimal("2.5")), (7, Decimal(7)), ("+.5", Decimal("0.5")),
    ("0.000000001", Decimal("0.000000001")), ("1E+3", Decimal(1000)), ("-3.25", Decimal("-3.25")),
    (Decimal("4.200"), Decimal("4.2")), ("1.100000000", Decimal("1.1")),
])
def test_parse_decimal_accepts_exact_values(raw: object, expected: Decimal) -> None:
    assert parse_decimal(raw) == expected


@pytest.mark.parametrize("raw", [0.1, 1.0, True, "abc", "", "NaN", "Infinity", "-inf",
                                 "0.0000000001", "1E-10", None, [1], "1E+1000000",
                                 "9" * 120, " 2.5", "2.5 ", "1_0", "\uff11", "\u0661",
                                 "1\n", "\u0661.5", "0x1", "1,5", "--1"])
def test_parse_decimal_refuses_floats_and_inexact_values(raw: object) -> None:
    with pytest.raises(NotExact):
        parse_decimal(raw)


@pytest.mark.parametrize(("price", "units", "amount"), [
    ("0.1", "3", "-0.3"),
    ("0.7", "0.000001", "-0.0000007"),
    # Half-even at the ninth place: ...5 rounds to the even neighbour.
    ("0.000000001", "0.5", "0"),
    ("0.000000003", "0.5", "-0.000000002"),
    ("0.000000005", "0.5", "-0.000000002"),
    ("0.000000007", "0.5", "-0.000000004"),
    ("0.000000001", "1.5", "-0.000000002"),
    ("0.000000001", "2.5", "-0.000000002"),
    ("0.000000001", "2.500000001", "-0.000000003"),
    ("2.8", "0.001234", "-0.0034552"),
    ("0", "12", "0"),
])
def test_charge_amount_rounds_half_even_and_is_negative(
    price: str, units: str, amount: str
) -> None:
    result = charge_amount(Decimal(price), Decimal(units))
    assert result == Decimal(amount)
    assert result.as_tuple().exponent == -9  # always quantized to nine places


@given(price=nine_places.filter(lambda d: d >= 0), units=nine_places.filter(lambda d: d > 0))
def test_charge_amount_is_the_exact_product_rounded(price: Decimal, units: Decimal) -> None:
    amount = charge_amount(price, units)
    with localcontext(prec=200):  # no rounding anywhere in the reference computation
        exact = price * units
        assert amount <= 0
        assert abs(-amount - exact) <= Decimal("0.0000000005")
        assert round_amount(exact) == -amount
        assert amount == -exact.quantize(Decimal("1E-9"), rounding=ROUND_HALF_EVEN)


def test_charge_amount_does_not_round_twice() -> None:
    # The exact product is ...581.000000001499999999, just below the half. Rounded first to the
    # default context's 28 digits it would become ...001500000000 and then, half-even, ...002.
    price, units = Decimal("123456789.123456789"), Decimal("718693392.390109891")
    assert charge_amount(price, units) == Decimal("-88727578588727581.000000001")


@pytest.mark.parametrize(("value", "text"), [
    (Decimal("0"), "0"), (Decimal("-0"), "0"), (Decimal("-0E-9"), "0"), (Decimal("0.000"), "0"),
    (Decimal("1.500"), "1.5"), (Decimal("100"), "100"), (Decimal("1E+3"), "1000"),
    (Decimal("1E-9"), "0.000000001"), (Decimal("-0.300000000"), "-0.3"),
    (Decimal("123456789012345678901234567.123456789"), "123456789012345678901234567.123456789"),
    (Decimal("10.000000000"), "10"),
])
def test_format_decimal_is_plain_text(value: Decimal, text: str) -> None:
    assert format_decimal(value) == text


@given(nine_places)
def test_format_decimal_round_trips_without_exponent_or_trailing_zero(value: Decimal) -> None:
    text = format_decimal(value)
    assert Decimal(text) == value
    assert "e" not in text.lower()
    assert not ("." in text and text.endswith("0"))
    assert not text.endswith(".") and text != "-0"


@given(nine_places)
def test_nano_units_round_trip(value: Decimal) -> None:
    assert from_nanos(to_nanos(value)) == value
    assert isinstance(to_nanos(value), int)


def test_to_nanos_refuses_finer_precision() -> None:
    with pytest.raises(NotExact):
        to_nanos(Decimal("0.0000000001"))


def _reference_parse(text: str) -> Decimal | None:
    """parse_decimal as it was before its fast path for plain text: None where it refuses."""
    import re
    from decimal import Context, InvalidOperation

    if len(text) > 100 or not re.fullmatch(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?",
                                           text):
        return None
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite():
        return None
    try:
        exact = number == number.quantize(Decimal("1E-9"), context=Context(prec=100))
    except InvalidOperation:
        return None
    return number if exact else None


def _outcome(text: str) -> tuple[str, str] | None:
    try:
        number = parse_decimal(text)
    except NotExact:
        return None
    return str(number), repr(number)  # the same Decimal, digits and exponent included


plain_texts = st.one_of(
    st.text(alphabet="0123456789.-+eE_ ", max_size=16),
    st.text(alphabet="0123456789", min_size=55, max_size=100),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.builds(lambda whole, places: f"{whole}.{places}", st.integers(-10**12, 10**12),
              st.text(alphabet="0123456789", min_size=0, max_size=12)),
    st.builds(lambda whole, places: f"{whole}.{places}", st.integers(-10**12, 10**12),
              st.text(alphabet="0123456789", min_size=8, max_size=11)),  # around nine places
)


@settings(max_examples=500)
@given(plain_texts)
def test_parse_decimal_fast_path_decides_as_the_general_rule(text: str) -> None:
    expected = _reference_parse(text)
    got = _outcome(text)
    assert got == (None if expected is None else (str(expected), repr(expected)))

"""Money on the wire: every price, unit count and amount in JSON and CSV is the stored Decimal,
written as plain decimal text (no binary-float artefact, no exponent, no trailing zero)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tests.support.harness import Harness, Tenant
from tests.support.usage import PLAIN_NUMBER, URL, exact_json, page, store
from usagebook.money import charge_amount
from usagebook.store.rows import NewEntry
from usagebook.timeutil import now_ms

NANO = Decimal("0.000000001")
# Prices and units keep SQLite's 64-bit nano-units in range: |amount| < 9.2 billion, which
# `_in_range` checks (two sampled values, 9876543.123456789 x 1000.000000001, go beyond it).
SQLITE_LARGEST_AMOUNT = Decimal(2**63 - 1).scaleb(-9)
prices = st.one_of(
    st.sampled_from([Decimal("0.1"), Decimal("0.2"), Decimal("0.7"), Decimal("2.8"), NANO,
                     Decimal("9876543.123456789"), Decimal("0"), Decimal("1E+2")]),
    st.decimals(min_value=0, max_value=10**6, places=9),
)
units = st.one_of(
    st.sampled_from([Decimal("3"), Decimal("0.001234"), NANO, Decimal("1000.000000001"),
                     Decimal("1E-9"), Decimal("5.000")]),
    st.decimals(min_value=NANO, max_value=900, places=9),
)


def _entries(account_id: str, pairs: list[tuple[Decimal, Decimal]]) -> list[NewEntry]:
    moment = now_ms() - 60_000
    return [NewEntry(account_id=account_id, api_key_id=None, ts_ms=moment + i, sku="flux-dev-"
                     "image-unit", price_per_unit_usd=price, units=count,
                     amount=charge_amount(price, count), currency="USD", request_id=f"m{i}")
            for i, (price, count) in enumerate(pairs)]


def _check_csv(text: str, made: list[NewEntry]) -> None:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == len(made)
    for row, entry in zip(rows, made, strict=True):
        for column, stored in (("pricePerUnitUsd", entry.price_per_unit_usd),
                               ("units", entry.units), ("amount", entry.amount)):
            assert PLAIN_NUMBER.match(row[column]), row[column]
            assert Decimal(row[column]) == stored


def _in_range(pair: tuple[Decimal, Decimal]) -> bool:
    return -charge_amount(*pair) <= SQLITE_LARGEST_AMOUNT


@given(pairs=st.lists(st.tuples(prices, units).filter(_in_range), min_size=1, max_size=6))
def test_json_and_csv_carry_the_stored_decimals_exactly(
    harness: Harness, pairs: list[tuple[Decimal, Decimal]]
) -> None:
    tenant = harness.tenant("money")
    made = _entries(tenant.account_id, pairs)
    store(harness, made)
    # exact_json refuses any number text with an exponent or trailing zero, and keeps each
    # number as Decimal, so an amount that passed through a float cannot compare equal.
    body = page(harness, tenant, sortOrder="asc")
    assert len(body["data"]) == len(made)
    for item, entry in zip(body["data"], made, strict=True):
        assert item["pricePerUnitUsd"] == entry.price_per_unit_usd
        assert item["units"] == entry.units
        assert item["amount"] == entry.amount
        assert item["amount"] == -(entry.price_per_unit_usd * entry.units).quantize(NANO)
    answer = harness.get(URL, tenant, params={"sortOrder": "asc"}, headers={"Accept": "text/csv"})
    _check_csv(answer.text, made)


def test_classic_float_traps_are_written_exactly(harness: Harness, tenant: Tenant) -> None:
    pairs = [(Decimal("0.1"), Decimal("3")), (Decimal("0.7"), Decimal("0.000001")),
             (Decimal("9876543.123456789"), Decimal("1")), (NANO, NANO),
             (Decimal("1.1"), Decimal("1.1"))]
    store(harness, _entries(tenant.account_id, pairs))
    text = harness.get(URL, tenant, params={"sortOrder": "asc"}).text
    amounts = [item["amount"] for item in exact_json(text)["data"]]
    assert amounts == [Decimal("-0.3"), Decimal("-0.0000007"), Decimal("-9876543.123456789"),
                       Decimal("0"), Decimal("-1.21")]
    for written in ('"amount":-0.3,', '"amount":-0.0000007,', '"amount":-9876543.123456789,',
                    '"amount":0,', '"amount":-1.21,', '"units":0.000000001,'):
        assert written in text

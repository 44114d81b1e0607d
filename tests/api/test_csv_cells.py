"""The contract's CSV cell rules (usagebook.api.entry_csv, shared by every CSV usagebook writes)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usagebook.api.entry_csv import HEADER, entries_csv, number_cell, text_cell
from usagebook.store.rows import EntryRow


@pytest.mark.parametrize(("value", "cell"), [
    (None, ""), ("", ""), ("abc", "abc"), ("a b", "a b"),
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"),
    ("\rx", "\"'\rx\""), ("a,b", '"a,b"'), ('a"b', '"a""b"'), ("a\nb", '"a\nb"'),
    ("a\r\nb", '"a\r\nb"'), ("x=1", "x=1"), (" =1", " =1"), ("'=1", "'=1"), ('=",', "\"'=\"\",\""),
])
def test_text_cell(value: str | None, cell: str) -> None:
    assert text_cell(value) == cell


@pytest.mark.parametrize(("value", "cell"), [
    (None, ""), (0, "0"), (12, "12"), (-5, "-5"), (Decimal("-0.1"), "-0.1"),
    (Decimal("1.500"), "1.5"), (Decimal("1E+3"), "1000"), (Decimal("-0E-9"), "0"),
    (Decimal("0.000000001"), "0.000000001"),
])
def test_number_cell_is_never_prefixed(value: Decimal | int | None, cell: str) -> None:
    assert number_cell(value) == cell


@given(st.text())
def test_text_cells_read_back_with_a_standard_csv_reader(value: str) -> None:
    cell = text_cell(value)
    if value == "":
        assert cell == ""
        return
    read = next(csv.reader(io.StringIO(cell + "\n", newline="")))
    assert read == [("'" + value) if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value]
    quoted = any(ch in value for ch in ',"\n\r')
    assert cell.startswith('"') == quoted


def test_entries_csv_header_and_row() -> None:
    row = EntryRow(id=1, ts_ms=1_781_550_310_504, sku="s", price_per_unit_usd=Decimal("0.70"),
                   units=Decimal("3"), amount=Decimal("-2.100"), currency="USD", notes=None,
                   request_id="r", execution_ms=None, prompt_tokens=5, completion_tokens=None)
    assert HEADER.endswith("\n") and "\r" not in HEADER
    assert entries_csv([row]) == HEADER + "2026-06-15T19:05:10.504Z,s,0.7,3,-2.1,USD,,r,,5,\n"
    assert entries_csv([]) == HEADER

"""GET /billing/usage as CSV: Accept negotiation, the exact header, cells and the same values as
the JSON page."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest

from tests.support.factories import random_entries
from tests.support.harness import Harness, Tenant
from tests.support.usage import (
    CSV_HEADER,
    PAGINATION_HEADERS,
    URL,
    assert_standard_error,
    exact_json,
    page,
    store,
)
from usagebook.ledger.catalog import DEMO_CATALOG
from usagebook.store.rows import NewEntry
from usagebook.timeutil import format_ms, now_ms

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _get(harness: Harness, tenant: Tenant, accept: str | None, **params: Any) -> Any:
    headers = {} if accept is None else {"Accept": accept}
    return harness.get(URL, tenant, params=params, headers=headers)


@pytest.mark.parametrize(("accept", "expected"), [
    (None, "json"), ("", "json"), ("*/*", "json"), ("application/json", "json"),
    ("application/*", "json"), ("text/csv", "csv"), ("text/*", "csv"),
    ("text/csv; charset=utf-8", "csv"), ("TEXT/CSV", "csv"),
    ("text/csv;q=0.5, application/json", "json"),
    ("application/json;q=0.2, text/csv;q=0.9", "csv"),
    ("text/csv;q=0.5, application/json;q=0.5", "csv"),  # first listed wins a tie
    ("application/json;q=0.5, text/csv;q=0.5", "json"),
    ("text/html, text/csv;q=0.1", "csv"),
    ("application/json;q=0, */*", "csv"),  # the specific refusal beats the wildcard
    ("text/csv;q=0, */*", "json"),
])
def test_accept_negotiation(
    harness: Harness, tenant: Tenant, accept: str | None, expected: str
) -> None:
    answer = _get(harness, tenant, accept)
    assert answer.status_code == 200, answer.text
    wanted = "text/csv; charset=utf-8" if expected == "csv" else "application/json"
    assert answer.headers["content-type"] == wanted


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "image/png, text/plain",
                                    "*/*;q=0", "text/csv;q=0, application/json;q=0",
                                    "text/csv;q=2", "text/csv;q=nan"])
def test_unservable_accept_is_406(harness: Harness, tenant: Tenant, accept: str) -> None:
    assert_standard_error(_get(harness, tenant, accept), 406)


def test_csv_headers_and_exact_header_row(harness: Harness, tenant: Tenant) -> None:
    store(harness, random_entries(tenant.account_id, 9, seed=31))
    answer = _get(harness, tenant, "text/csv", limit=4, page=2)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == "attachment; filename=billing_usage.csv"
    expected = {"x-pagination-limit": "4", "x-pagination-page": "2", "x-pagination-total": "9",
                "x-pagination-total-pages": "3"}
    assert {name: answer.headers[name] for name in PAGINATION_HEADERS} == expected
    text = answer.content.decode("utf-8")
    assert text.split("\n")[0] == CSV_HEADER
    assert text.endswith("\n") and text.count("\n") == 5  # header + 4 rows


def test_csv_of_an_empty_page_is_the_header_alone(harness: Harness, tenant: Tenant) -> None:
    answer = _get(harness, tenant, "text/csv")
    assert answer.text == CSV_HEADER + "\n"
    assert answer.headers["x-pagination-total-pages"] == "0"


def _unprefixed(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def _json_cells(item: dict[str, Any]) -> list[str]:
    def number(value: Decimal | None) -> str:
        return "" if value is None else str(value)

    details = item["inferenceDetails"] or {}
    return [item["timestamp"], item["sku"], number(item["pricePerUnitUsd"]),
            number(item["units"]), number(item["amount"]), item["currency"], item["notes"],
            details.get("requestId") or "", number(details.get("inferenceExecutionTime")),
            number(details.get("promptTokens")), number(details.get("completionTokens"))]


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
def test_csv_rows_equal_the_json_page(harness: Harness, tenant: Tenant, sort_order: str) -> None:
    store(harness, random_entries(tenant.account_id, 40, seed=32))
    for number in (1, 2, 3):
        params = {"limit": 15, "page": number, "sortOrder": sort_order}
        body = page(harness, tenant, **params)
        answer = _get(harness, tenant, "text/csv", **params)
        rows = list(csv.reader(io.StringIO(answer.text, newline="")))
        assert rows[0] == CSV_HEADER.split(",")
        assert len(rows) - 1 == len(body["data"])
        for row, item in zip(rows[1:], body["data"], strict=True):
            assert [_unprefixed(cell) for cell in row] == _json_cells(item)


def _entry(account_id: str, index: int, notes: str | None, request_id: str | None = None,
           **extra: Any) -> NewEntry:
    sku = DEMO_CATALOG[0]
    values: dict[str, Any] = {
        "account_id": account_id, "api_key_id": None, "ts_ms": now_ms() - 10_000 + index,
        "sku": sku.sku, "price_per_unit_usd": Decimal("0.7"), "units": Decimal("0.000003"),
        "amount": Decimal("-0.000002"), "currency": "USD",
        "request_id": request_id or f"cell-{index}", "notes": notes,
    }
    values.update(extra)
    return NewEntry(**values)


CELL_CASES = [
    (None, ""),
    ("", ""),
    ("API Inference", "API Inference"),
    ("=SUM(A1)", "'=SUM(A1)"),
    ("+1 555", "'+1 555"),
    ("-2", "'-2"),
    ("@cmd", "'@cmd"),
    ("\tindented", "'\tindented"),
    ("\rreturn", "\"'\rreturn\""),
    ("say \"hi\", ok", "\"say \"\"hi\"\", ok\""),
    ("a,b", "\"a,b\""),
    ("two\nlines", "\"two\nlines\""),
    ("=1,2", "\"'=1,2\""),
    ("plain 'quote'", "plain 'quote'"),
    ("naïve €", "naïve €"),
]


def test_csv_cell_rules(harness: Harness, tenant: Tenant) -> None:
    made = [_entry(tenant.account_id, i, notes) for i, (notes, _) in enumerate(CELL_CASES)]
    store(harness, made)
    expected = CSV_HEADER + "\n" + "".join(
        f"{format_ms(entry.ts_ms)},{entry.sku},0.7,0.000003,-0.000002,USD,{cell},cell-{i},,,\n"
        for i, (entry, (_, cell)) in enumerate(zip(made, CELL_CASES, strict=True))
    )
    answer = _get(harness, tenant, "text/csv", sortOrder="asc")
    assert answer.content == expected.encode("utf-8")


def test_csv_numbers_are_never_prefixed_and_nulls_are_empty(
    harness: Harness, tenant: Tenant
) -> None:
    store(harness, [
        _entry(tenant.account_id, 0, None, "req-=1", execution_ms=None, prompt_tokens=None,
               completion_tokens=None),
        _entry(tenant.account_id, 1, "x", "-req", execution_ms=0, prompt_tokens=12,
               completion_tokens=3),
    ])
    lines = _get(harness, tenant, "text/csv", sortOrder="asc").text.split("\n")
    first = lines[1].split(",")
    assert first[2:7] == ["0.7", "0.000003", "-0.000002", "USD", ""]
    assert first[7:] == ["req-=1", "", "", ""]
    second = lines[2].split(",")
    assert second[4] == "-0.000002"  # a negative number, not a formula
    assert second[7:] == ["'-req", "0", "12", "3"]
    body = exact_json(harness.get(URL, tenant, params={"sortOrder": "asc"}).text)
    assert body["data"][0]["notes"] == ""
    assert body["data"][0]["inferenceDetails"] == {
        "requestId": "req-=1", "inferenceExecutionTime": None, "promptTokens": None,
        "completionTokens": None}

"""Shared checks for GET /billing/usage tests: Venice's published schemas, exact-number parsing,
and the expected ledger order of entries a test stored itself."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from tests.support.factories import store_entries
from tests.support.harness import Harness, Tenant
from usagebook.store.rows import NewEntry

URL = "/api/v1/billing/usage"
SCHEMAS = json.loads((Path(__file__).parents[1] / "contract" / "venice_schemas.json").read_text())
USAGE_SCHEMA = Draft202012Validator(SCHEMAS["usage"])
DETAILED_ERROR = Draft202012Validator(SCHEMAS["detailedError"])
STANDARD_ERROR = Draft202012Validator(SCHEMAS["standardError"])
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
# A JSON number the contract allows for money: plain decimal, no exponent, no trailing zeros.
PLAIN_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$")
PAGINATION_HEADERS = {
    "x-pagination-limit": "limit",
    "x-pagination-page": "page",
    "x-pagination-total": "total",
    "x-pagination-total-pages": "totalPages",
}
CSV_HEADER = (
    "timestamp,sku,pricePerUnitUsd,units,amount,currency,notes,inferenceDetails.requestId,"
    "inferenceDetails.inferenceExecutionTime,inferenceDetails.promptTokens,"
    "inferenceDetails.completionTokens"
)


def exact_json(text: str) -> Any:
    """Parse JSON keeping every number's text: a float would show up as a mismatch or artefact."""

    def number(raw: str) -> Decimal:
        assert PLAIN_NUMBER.match(raw), f"number {raw!r} is not plain decimal text"
        return Decimal(raw)

    return json.loads(text, parse_float=number, parse_int=number)


def store(harness: Harness, entries: list[NewEntry]) -> list[tuple[int, NewEntry]]:
    """Store entries; returns (id, entry) for each one, in ledger order (timestamp, id)."""
    ids = harness.call(lambda db: store_entries(db, entries))
    stored = [(id_, entry) for id_, entry in zip(ids, entries, strict=True) if id_ is not None]
    assert len(stored) == len(entries)
    return sorted(stored, key=lambda pair: (pair[1].ts_ms, pair[0]))


def request_ids(body: dict[str, Any]) -> list[str]:
    return [item["inferenceDetails"]["requestId"] for item in body["data"]]


def page(harness: Harness, tenant: Tenant, **params: Any) -> dict[str, Any]:
    """A 200 JSON page that Venice's schema accepts, whose headers match its pagination."""
    answer = harness.get(URL, tenant, params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = exact_json(answer.text)
    assert_usage_body(json.loads(answer.text))
    for header, field in PAGINATION_HEADERS.items():
        assert answer.headers[header] == str(body["pagination"][field])
    return body  # type: ignore[no-any-return]


def assert_usage_body(body: dict[str, Any]) -> None:
    errors = [error.message for error in USAGE_SCHEMA.iter_errors(body)]
    assert not errors, errors
    for item in body["data"]:
        assert set(item) == {"timestamp", "sku", "pricePerUnitUsd", "units", "amount",
                             "currency", "notes", "inferenceDetails"}
        assert TIMESTAMP.match(item["timestamp"]), item["timestamp"]
        assert item["currency"] in ("USD", "DIEM", "BUNDLED_CREDITS")
    pagination = body["pagination"]
    assert pagination["totalPages"] == -(-pagination["total"] // pagination["limit"])


def assert_bad_request(answer: Any, *names: str) -> dict[str, Any]:
    """A 400 DetailedError naming each of `names` with at least one message."""
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert not list(DETAILED_ERROR.iter_errors(body))
    assert isinstance(body["error"], str) and body["error"]
    for name in names:
        assert body["details"][name]["_errors"], (name, body)
    return body  # type: ignore[no-any-return]


def assert_standard_error(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert not list(STANDARD_ERROR.iter_errors(body))
    assert set(body) == {"error"} and body["error"]
    assert "Traceback" not in answer.text
    return body  # type: ignore[no-any-return]


def api_pages(harness: Harness, tenant: Tenant, params: dict[str, str], accept: str) -> list[Any]:
    """Every page of /billing/usage for `params`, oldest first, 500 a page, in `accept`."""
    pages, page = [], 1
    while True:
        answer = harness.get("/api/v1/billing/usage", tenant, headers={"Accept": accept},
                             params={**params, "sortOrder": "asc", "limit": 500, "page": page})
        assert answer.status_code == 200, answer.text
        pages.append(answer)
        if page >= int(answer.headers["x-pagination-total-pages"]):
            return pages
        page += 1

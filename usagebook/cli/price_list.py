"""The operator's price-list file: CSV with a header row, or JSON (a list of rows, or
{"skus": [...]}), its columns named as the catalog's wire fields (`modelId`, ...).

The file format is an edge like the HTTP API, so it is read here, beside the command that reads
it: the ledger (`ledger.pricing.price_rows`) checks rows keyed by the catalog's own field names
and names bad ones so, and `COLUMN_NAMES` shows them as the file spells them. JSON is read by
the one strict rule every JSON input of usagebook follows (`api.strict_json`: UTF-8 only, no key
twice in one object, no NaN, every number an exact Decimal).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from usagebook.api.strict_json import NotStrictJson, decode_body, problem_of
from usagebook.errors import InvalidInput

# The catalog's field names (SkuRow's) as a price list's columns.
COLUMN_NAMES = {
    "sku": "sku",
    "model_id": "modelId",
    "model_name": "modelName",
    "model_type": "modelType",
    "unit_type": "unitType",
    "unit_type_per_unit": "unitTypePerUnit",
    "usage_type": "usageType",
    "price_per_unit_usd": "pricePerUnitUsd",
}


def read_price_list(path: Path) -> list[Any]:
    """The file's rows, each a dict keyed by the catalog's field names (other columns left out)
    or, in JSON, whatever else the row was (the ledger refuses it). InvalidInput (on `file`) when
    the file cannot be read or is not a price list."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput.single("file", f"cannot be read: {exc}") from None
    records = _json_records(raw) if path.suffix.lower() == ".json" else _csv_records(raw)
    return [_by_field(record) for record in records]


def _by_field(record: Any) -> Any:
    if not isinstance(record, dict):
        return record
    return {name: record[column] for name, column in COLUMN_NAMES.items() if column in record}


def _json_records(raw: bytes) -> list[Any]:
    try:
        data = decode_body(raw)
    except (NotStrictJson, RecursionError) as exc:
        raise InvalidInput.single("file", problem_of(exc)) from None
    if isinstance(data, dict) and isinstance(data.get("skus"), list):
        data = data["skus"]
    if not isinstance(data, list):
        raise InvalidInput.single("file", 'must hold a JSON list of rows or {"skus": [...]}')
    return data


def _csv_records(raw: bytes) -> list[Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput.single("file", f"cannot be read: {exc}") from None
    return list(csv.DictReader(text.splitlines()))

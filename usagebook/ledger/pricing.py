"""Pricing: what an event costs, and the operator's price list (CSV or JSON).

An entry carries the price per unit that its SKU had when it was recorded; a later price change
applies only to events recorded after it (`prices import` replaces catalog rows, never entries).
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from usagebook.errors import InvalidInput, ProblemCollector
from usagebook.ledger.catalog import MODEL_TYPES, UNIT_TYPES, upsert_catalog
from usagebook.money import NotExact, charge_amount, parse_decimal
from usagebook.store.engine import Database
from usagebook.store.skus import SkuRow

# Every amount must fit SQLite's 64-bit nano-units with room to sum: no single line above this.
MAX_CHARGE = Decimal(1_000_000_000)

# Catalog columns as written in a price list (camelCase, as on the wire), and SkuRow's names.
COLUMNS = {
    "sku": "sku",
    "modelId": "model_id",
    "modelName": "model_name",
    "modelType": "model_type",
    "unitType": "unit_type",
    "unitTypePerUnit": "unit_type_per_unit",
    "usageType": "usage_type",
    "pricePerUnitUsd": "price_per_unit_usd",
}
OPTIONAL = {"modelName", "unitTypePerUnit"}


def price(sku: SkuRow, units: Decimal) -> tuple[Decimal, Decimal]:
    """The catalog price per unit and the (negative) amount an event of `units` is charged."""
    return sku.price_per_unit_usd, charge_amount(sku.price_per_unit_usd, units)


def read_price_list(path: Path) -> list[SkuRow]:
    """Parse a price list: a CSV with a header row, or JSON (a list, or {"skus": [...]}).
    Raises InvalidInput naming every bad row and field (`rows.<n>.<column>`, n from 1)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput.single("file", f"cannot be read: {exc}") from None
    records = _json_records(text) if path.suffix.lower() == ".json" else _csv_records(text)
    problems = ProblemCollector()
    rows = [_row(record, number, problems) for number, record in enumerate(records, start=1)]
    if not rows:
        problems.add("file", "holds no price rows")
    problems.raise_if_any("Invalid price list")
    return [row for row in rows if row is not None]


def _json_records(text: str) -> list[Any]:
    try:
        data = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise InvalidInput.single("file", f"is not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("skus"), list):
        data = data["skus"]
    if not isinstance(data, list):
        raise InvalidInput.single("file", 'must hold a JSON list of rows or {"skus": [...]}')
    return data


def _csv_records(text: str) -> list[Any]:
    return list(csv.DictReader(text.splitlines()))


def _row(record: Any, number: int, problems: ProblemCollector) -> SkuRow | None:
    where = f"rows.{number}"
    if not isinstance(record, dict):
        problems.add(where, "must be an object with the catalog's columns")
        return None
    values: dict[str, Any] = {}
    for column, name in COLUMNS.items():
        raw = record.get(column)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if column not in OPTIONAL:
                problems.add(f"{where}.{column}", "is required")
            continue
        values[name] = raw.strip() if isinstance(raw, str) else raw
    values.setdefault("model_name", values.get("model_id", ""))
    values.setdefault("unit_type_per_unit", Decimal(1))
    for name in ("unit_type_per_unit", "price_per_unit_usd"):
        column = next(c for c, n in COLUMNS.items() if n == name)
        try:
            values[name] = parse_decimal(values.get(name, "0"))
        except NotExact as exc:
            problems.add(f"{where}.{column}", str(exc))
            continue
        if values[name] < 0 or (name == "unit_type_per_unit" and values[name] == 0):
            problems.add(
                f"{where}.{column}",
                "must be positive" if name == "unit_type_per_unit" else "must not be negative",
            )
    if values.get("model_type") not in (*MODEL_TYPES, None):
        problems.add(f"{where}.modelType", f"must be one of {', '.join(MODEL_TYPES)}")
    if values.get("unit_type") not in (*UNIT_TYPES, None):
        problems.add(f"{where}.unitType", f"must be one of {', '.join(UNIT_TYPES)}")
    if set(COLUMNS.values()) - set(values):
        return None
    return SkuRow(**values)


async def import_prices(db: Database, path: Path) -> int:
    """Replace the catalog rows named in the price list; returns how many rows it held."""
    return await upsert_catalog(db, read_price_list(path))

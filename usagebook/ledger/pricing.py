"""Pricing: what an event costs, and the operator's price list (its rows, checked).

An entry carries the price per unit that its SKU had when it was recorded; a later price change
applies only to events recorded after it (`prices import` replaces catalog rows, never entries).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from usagebook.errors import ProblemCollector
from usagebook.ledger.catalog import MODEL_TYPES, UNIT_TYPES, upsert_catalog
from usagebook.money import NotExact, charge_amount, parse_decimal
from usagebook.store.engine import Database
from usagebook.store.skus import SkuRow

# Every amount must fit SQLite's 64-bit nano-units with room to sum: no single line above this.
MAX_CHARGE = Decimal(1_000_000_000)

# A price row's fields, in the order their problems are named; two may be left out.
FIELDS = tuple(SkuRow.__dataclass_fields__)
OPTIONAL = {"model_name", "unit_type_per_unit"}


def price(sku: SkuRow, units: Decimal) -> tuple[Decimal, Decimal]:
    """The catalog price per unit and the (negative) amount an event of `units` is charged."""
    return sku.price_per_unit_usd, charge_amount(sku.price_per_unit_usd, units)


def price_rows(records: Sequence[Any]) -> list[SkuRow]:
    """Check a price list's rows, each a dict keyed by SkuRow's field names (the file is read by
    its edge, `usagebook.cli.price_list`). Raises InvalidInput naming every bad row and field
    (`rows.<n>.<field>`, n from 1)."""
    problems = ProblemCollector()
    rows = [_row(record, number, problems) for number, record in enumerate(records, start=1)]
    if not rows:
        problems.add("file", "holds no price rows")
    problems.raise_if_any("Invalid price list")
    return [row for row in rows if row is not None]


def _row(record: Any, number: int, problems: ProblemCollector) -> SkuRow | None:
    where = f"rows.{number}"
    if not isinstance(record, dict):
        problems.add(where, "must be an object with the catalog's columns")
        return None
    values: dict[str, Any] = {}
    for name in FIELDS:
        raw = record.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if name not in OPTIONAL:
                problems.add(f"{where}.{name}", "is required")
            continue
        values[name] = raw.strip() if isinstance(raw, str) else raw
    values.setdefault("model_name", values.get("model_id", ""))
    values.setdefault("unit_type_per_unit", Decimal(1))
    for name in ("unit_type_per_unit", "price_per_unit_usd"):
        try:
            values[name] = parse_decimal(values.get(name, "0"))
        except NotExact as exc:
            problems.add(f"{where}.{name}", str(exc))
            continue
        if values[name] < 0 or (name == "unit_type_per_unit" and values[name] == 0):
            problems.add(
                f"{where}.{name}",
                "must be positive" if name == "unit_type_per_unit" else "must not be negative",
            )
    if values.get("model_type") not in (*MODEL_TYPES, None):
        problems.add(f"{where}.model_type", f"must be one of {', '.join(MODEL_TYPES)}")
    if values.get("unit_type") not in (*UNIT_TYPES, None):
        problems.add(f"{where}.unit_type", f"must be one of {', '.join(UNIT_TYPES)}")
    if set(FIELDS) - set(values):
        return None
    return SkuRow(**values)


async def import_prices(db: Database, records: Sequence[Any]) -> int:
    """Replace the catalog rows of a price list (`price_rows`); returns how many it held."""
    return await upsert_catalog(db, price_rows(records))

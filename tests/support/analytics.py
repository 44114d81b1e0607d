"""Shared helpers for the analytics tests: exact JSON, entries on chosen days, expected sums."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.support.harness import Harness, Tenant
from usagebook.ledger.catalog import DEMO_CATALOG
from usagebook.money import charge_amount
from usagebook.store.rows import NewEntry
from usagebook.timeutil import MS_PER_DAY, day_start_ms, now_ms

PATH = "/api/v1/billing/usage-analytics"
SKUS = {sku.sku: sku for sku in DEMO_CATALOG}


def today() -> date:
    return datetime.fromtimestamp(now_ms() // 1000, tz=UTC).date()


def exact(response: Any) -> Any:
    """The body with every number exact (Decimal), never through float."""
    return json.loads(response.text, parse_float=Decimal, parse_int=Decimal)


def entry(
    account_id: str, sku: str, units: str, currency: str, *, day: date, key_id: str | None = None,
    request_id: str, offset_ms: int = 0,
) -> NewEntry:
    row = SKUS[sku]
    amount = charge_amount(row.price_per_unit_usd, Decimal(units))
    return NewEntry(account_id=account_id, api_key_id=key_id,
                    ts_ms=day_start_ms(day) + offset_ms % MS_PER_DAY, sku=sku,
                    price_per_unit_usd=row.price_per_unit_usd, units=Decimal(units),
                    amount=amount, currency=currency, request_id=request_id)


def get(harness: Harness, tenant: Tenant, **params: str) -> Any:
    return harness.get(PATH, tenant, params=params)


def days_back(n: int) -> list[date]:
    end = today()
    return [end - timedelta(days=n - 1 - i) for i in range(n)]


def spend(entries: Iterable[NewEntry], currencies: tuple[str, ...]) -> Decimal:
    return -sum((e.amount for e in entries if e.currency in currencies), Decimal(0))


USD_LIKE = ("USD", "BUNDLED_CREDITS")
DIEM_LIKE = ("DIEM",)


# Venice's published schema of GET /billing/usage-analytics.
ANALYTICS_SCHEMA = json.loads(
    (Path(__file__).parents[1] / "contract" / "venice_schemas.json").read_text())["usageAnalytics"]

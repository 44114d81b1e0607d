"""Expected analytics figures computed from an account's stored entries alone, in any zone: the
reference the rollup-based answers are held to."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tests.support.analytics import SKUS
from tests.support.harness import Harness
from usagebook.store.engine import Database
from usagebook.store.tables.entries import usage_entries as ue

USD_LIKE = ("USD", "BUNDLED_CREDITS")


@dataclass(frozen=True)
class Stored:
    ts_ms: int
    sku: str
    currency: str
    amount: Decimal
    units: Decimal
    api_key_id: str | None
    tags: dict[str, str]

    @property
    def model(self) -> str:
        found = SKUS.get(self.sku)
        return found.model_id if found else self.sku

    @property
    def type_units(self) -> Decimal:
        found = SKUS.get(self.sku)
        return self.units * (found.unit_type_per_unit if found else 1)


def stored_entries(harness: Harness, account_id: str) -> list[Stored]:
    """Every entry of the account, read back from the ledger table."""
    columns = [ue.c.ts_ms, ue.c.sku, ue.c.currency, ue.c.amount, ue.c.units, ue.c.api_key_id]
    has_tags = "tags" in ue.c

    async def work(db: Database) -> list[Any]:
        async with db.read() as conn:
            query = select(*columns, *([ue.c.tags] if has_tags else []))
            return [tuple(row) for row in await conn.execute(
                query.where(ue.c.account_id == account_id))]

    return [Stored(*row[:6], _tags(row[6]) if has_tags else {})
            for row in harness.call(work)]


def _tags(value: Any) -> dict[str, str]:
    import json

    return dict(json.loads(value)) if value else {}


def local_day(ts_ms: int, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts_ms // 1000, tz=UTC).astimezone(zone).date()


def local_midnight_ms(day: date, zone: ZoneInfo) -> int:
    moment = datetime(day.year, day.month, day.day, tzinfo=zone)
    return int(moment.timestamp() * 1000)


def spend(entries: list[Stored]) -> tuple[Decimal, Decimal]:
    usd = -sum((e.amount for e in entries if e.currency in USD_LIKE), Decimal(0))
    diem = -sum((e.amount for e in entries if e.currency == "DIEM"), Decimal(0))
    return usd, diem


def by_local_day(entries: list[Stored], first: date, last: date, zone: ZoneInfo
                 ) -> dict[date, list[Stored]]:
    days: dict[date, list[Stored]] = {first + timedelta(days=n): []
                                      for n in range((last - first).days + 1)}
    for entry in entries:
        day = local_day(entry.ts_ms, zone)
        if day in days:
            days[day].append(entry)
    return days


def grouped(entries: list[Stored], key: Any) -> dict[Any, list[Stored]]:
    found: dict[Any, list[Stored]] = defaultdict(list)
    for entry in entries:
        found[key(entry)].append(entry)
    return found

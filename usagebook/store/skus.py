"""Queries on the SKU catalog."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from usagebook.store.tables.catalog import skus


@dataclass(frozen=True)
class SkuRow:
    sku: str
    model_id: str
    model_name: str
    model_type: str
    unit_type: str
    unit_type_per_unit: Decimal
    usage_type: str
    price_per_unit_usd: Decimal


_COLUMNS = [skus.c[name] for name in SkuRow.__dataclass_fields__]


async def upsert_skus(conn: AsyncConnection, rows: Iterable[SkuRow], updated_ms: int) -> int:
    """Insert or replace catalog rows; a new price applies to entries recorded afterwards."""
    count = 0
    for row in rows:
        values = asdict(row)
        updated = await conn.execute(
            skus.update().where(skus.c.sku == row.sku).values(**values, updated_ms=updated_ms)
        )
        if not updated.rowcount:
            await conn.execute(skus.insert().values(**values, updated_ms=updated_ms))
        count += 1
    return count


async def list_skus(conn: AsyncConnection) -> list[SkuRow]:
    result = await conn.execute(select(*_COLUMNS).order_by(skus.c.sku))
    return [SkuRow(*row) for row in result]


async def find_skus(conn: AsyncConnection, names: Iterable[str]) -> dict[str, SkuRow]:
    wanted = sorted(set(names))
    if not wanted:
        return {}
    result = await conn.execute(select(*_COLUMNS).where(skus.c.sku.in_(wanted)))
    return {row.sku: SkuRow(*row) for row in result}


async def skus_of_model(conn: AsyncConnection, model_id: str) -> tuple[str, ...]:
    """The SKUs whose entries are `model_id`'s, as analytics names an entry's model: the
    catalog's SKUs of that model, and a SKU spelled like it that the catalog does not list
    (an unlisted SKU is its own model). Empty when none is."""
    result = await conn.execute(select(skus.c.sku, skus.c.model_id).where(
        or_(skus.c.model_id == model_id, skus.c.sku == model_id)))
    listed: dict[str, str] = {sku: model for sku, model in result}
    found = sorted(sku for sku, model in listed.items() if model == model_id)
    return tuple(found if model_id in listed else [*found, model_id])

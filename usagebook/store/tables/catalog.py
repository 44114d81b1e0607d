"""The SKU catalog: what each SKU is and its price per unit."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table

from usagebook.store.tables.metadata import metadata
from usagebook.store.types import Money

skus = Table(
    "skus",
    metadata,
    Column("sku", String(200), primary_key=True),
    Column("model_id", String(200), nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("model_type", String(16), nullable=False),
    Column("unit_type", String(16), nullable=False),
    # How many of unit_type one ledger unit is (1,000,000 for a per-million-tokens SKU).
    Column("unit_type_per_unit", Money, nullable=False),
    Column("usage_type", String(40), nullable=False),
    Column("price_per_unit_usd", Money, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

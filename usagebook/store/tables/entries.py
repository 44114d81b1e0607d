"""The ledger: usage entries, their idempotency keys and their counts per hour and day."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, UniqueConstraint

from usagebook.store.tables.metadata import metadata
from usagebook.store.types import BigId, Money

usage_entries = Table(
    "usage_entries",
    metadata,
    # Server-assigned, increasing: the tie-breaker of the ledger order (ts_ms, id).
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", String(40), nullable=False),
    Column("api_key_id", String(40), nullable=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("sku", String(200), nullable=False),
    Column("price_per_unit_usd", Money, nullable=False),
    Column("units", Money, nullable=False),
    Column("amount", Money, nullable=False),
    Column("currency", String(16), nullable=False),
    Column("notes", Text, nullable=True),
    Column("request_id", String(200), nullable=False),
    Column("execution_ms", Integer, nullable=True),
    Column("prompt_tokens", Integer, nullable=True),
    Column("completion_tokens", Integer, nullable=True),
    # Up to 8 tags as canonical JSON text (keys sorted, compact), NULL for none (revision 0009).
    Column("tags", Text, nullable=True),
    UniqueConstraint("account_id", "request_id", "sku"),
    Index("ix_usage_entries_account_ts", "account_id", "ts_ms", "id"),
    Index("ix_usage_entries_account_currency_ts", "account_id", "currency", "ts_ms", "id"),
    # One key's, or one SKU's, entries in ledger order (revision 0011); the key's index holds
    # the SKU too, so a key and a model together are counted from it alone.
    Index("ix_usage_entries_account_key_ts", "account_id", "api_key_id", "ts_ms", "id", "sku"),
    Index("ix_usage_entries_account_sku_ts", "account_id", "sku", "ts_ms", "id"),
)

# PostgreSQL only (revision 0012, `store.partitions`): there `usage_entries` is partitioned by
# month of ts_ms, its primary key is (account_id, ts_ms, id) and it has no other unique key;
# this table holds the ledger's idempotency key for every entry ever stored, archived ones
# included.
usage_request_keys = Table(
    "usage_request_keys",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("request_id", String(200), primary_key=True),
    Column("sku", String(200), primary_key=True),
    Column("entry_id", BigInteger, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
)

# --- Count buckets (revision 0003) -------------------------------------------------------------
# How many entries each account has per (currency, UTC hour): exact totals and deep pages sum
# these instead of counting entries. Kept by `store.counts` in the write path's transaction.
usage_count_buckets = Table(
    "usage_count_buckets",
    metadata,
    Column("account_id", String(40), primary_key=True),
    # The first epoch ms of the UTC hour: ts_ms - ts_ms mod 3,600,000 (floored). Before the
    # currency in the key, so a time range is one index range with or without a currency.
    Column("hour_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("currency", String(16), primary_key=True),
    Column("entries", BigInteger, nullable=False),
)

# The same per UTC day, so that a total or a deep page reads one row per day, not 24.
usage_count_days = Table(
    "usage_count_days",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("day_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("currency", String(16), primary_key=True),
    Column("entries", BigInteger, nullable=False),
)

"""Credit grants and the balances projected from them and the entries."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from usagebook.store.tables.metadata import metadata
from usagebook.store.types import BigId, ExactSum, Money

# --- Recording and balances (revision 0002) ---------------------------------------------------
# Balances are projections over entries: `consumed` moves only in apply_projections, in the same
# transaction as the entries it counts, so balance = granted - consumed = grants - charges, exactly.

credit_grants = Table(
    "credit_grants",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("currency", String(16), nullable=False),
    # Positive adds credit; negative is an adjustment. The note says why (refund, promotion...).
    Column("amount", Money, nullable=False),
    Column("notes", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    # On PostgreSQL the primary key is (id, account_id) (revision 0013); SQLite keeps its rowid.
    Index("ix_credit_grants_account_created", "account_id", "created_ms", "id"),
)

account_balances = Table(
    "account_balances",
    metadata,
    Column("account_id", String(40), primary_key=True),
    # USD or BUNDLED_CREDITS; DIEM is an allocation per UTC day (diem_days).
    Column("currency", String(16), primary_key=True),
    Column("granted", ExactSum, nullable=False),
    # The exact sum of -amount over the account's entries in this currency.
    Column("consumed", ExactSum, nullable=False),
)

diem_days = Table(
    "diem_days",
    metadata,
    Column("account_id", String(40), primary_key=True),
    # UTC day number (ts_ms // 86,400,000) of the entries counted: DIEM resets every UTC day.
    Column("day", Integer, primary_key=True, autoincrement=False),
    Column("consumed", ExactSum, nullable=False),
)

"""Accounts, their API keys (with the keys' spending limits) and the keys' rate-limit refusals."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from usagebook.store.tables.metadata import metadata
from usagebook.store.types import BigId, Money

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    # Today's DIEM allocation (resets every UTC day); NULL when the account has none.
    Column("diem_allocation", Money, nullable=True),
    # Account-level limits on spend per UTC calendar month (revision 0007); NULL = none.
    Column("monthly_limit_usd", Money, nullable=True),
    Column("monthly_limit_diem", Money, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), nullable=False),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("key_type", String(16), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("secret_hash", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger, nullable=True),
    Column("expires_ms", BigInteger, nullable=True),
    # Spending limits per currency class (revision 0005); NULL = no limit, 0 = none allowed.
    Column("consumption_limit_usd", Money, nullable=True),
    Column("consumption_limit_diem", Money, nullable=True),
    Column("consumption_limit_vcu", Money, nullable=True),
    # The limits' window: EPOCH (the UTC day), MONTH (the UTC calendar month) or LIFETIME.
    Column("limit_period", String(16), nullable=False, server_default="EPOCH"),
    Column("model_privacy", String(16), nullable=False, server_default="ALL"),
    Column("last_used_ms", BigInteger, nullable=True),
    # The secret's last six characters (revision 0006; NULL for keys made before it).
    Column("secret_last6", String(6), nullable=True),
    # Both keys carry the account (revision 0013, docs/scaling.md) after the column looked up
    # without one: a key by its id, or by its secret's hash, is one probe of either index.
    PrimaryKeyConstraint("id", "account_id"),
    UniqueConstraint("secret_hash", "account_id"),
)

# --- Rate-limit refusals (revision 0005) -------------------------------------------------------
# The newest refusals of each account's keys by the per-key rate limit (`store.ratelimit_log`
# keeps at most the last 50 per account). On PostgreSQL the primary key is (id, account_id)
# (revision 0013); SQLite keeps its rowid, its only generated id.
rate_limit_log = Table(
    "rate_limit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", String(40), nullable=False),
    Column("api_key_id", String(40), nullable=False),
    Column("model_id", String(200), nullable=False),
    Column("rate_limit_tier", String(40), nullable=False),
    Column("rate_limit_type", String(16), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Index("ix_rate_limit_log_account_id_id", "account_id", "id"),
)

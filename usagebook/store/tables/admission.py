"""Admission: holds on estimated cost, and recorded cost beyond what holds authorized."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    text,
)

from usagebook.store.tables.metadata import metadata
from usagebook.store.types import ExactSum, Money

# --- Admission: holds and overspend (revision 0007) -------------------------------------------
# A hold reserves an estimated cost for one inference call (POST /usage/authorize) until it is
# settled by recording or expires. Live = not settled and expires_ms > now: expiry needs no job,
# every query compares with the current time. Written only under the account's lock.
holds = Table(
    "holds",
    metadata,
    Column("id", String(40), nullable=False),
    Column("account_id", String(40), nullable=False),
    Column("api_key_id", String(40), nullable=False),
    Column("currency", String(16), nullable=False),
    Column("amount", Money, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("settled_ms", BigInteger, nullable=True),
    # The caller's request id (authorize is idempotent per key and request id) and a digest of the
    # estimate it was granted for: a repeat with another estimate is a conflict.
    Column("request_id", String(200), nullable=True),
    Column("fingerprint", String(64), nullable=True),
    # The account follows the columns looked up without it (revision 0013): release finds a
    # hold by its id alone, authorize a key's earlier hold by its request id.
    PrimaryKeyConstraint("id", "account_id"),
    UniqueConstraint("api_key_id", "request_id", "account_id"),
    # The live holds of an account: unsettled ones, by expiry (a range from now on).
    Index("ix_holds_account_live", "account_id", "expires_ms",
          postgresql_where=text("settled_ms IS NULL"), sqlite_where=text("settled_ms IS NULL")),
)

# Recorded cost beyond what holds had authorized, per account and UTC calendar month (its first
# epoch ms), by limit class: `usd` (USD and BUNDLED_CREDITS) and `diem`. Added to when a
# recording settles a hold with more than it held, or names a hold no longer live.
overspend_months = Table(
    "overspend_months",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("month_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("usd", ExactSum, nullable=False),
    Column("diem", ExactSum, nullable=False),
)

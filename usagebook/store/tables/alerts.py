"""Alerts: settings, thresholds, crossings (one event per threshold) and the events."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, PrimaryKeyConstraint, String, Table

from usagebook.store.tables.metadata import metadata
from usagebook.store.types import ExactSum, Money

# --- Alerts and webhooks (revision 0010) -------------------------------------------------------
# Settings per account; crossing state, whose unique key makes "one event per threshold per key
# (or account), currency and period" a database guarantee; the outbox of events, written in the
# transaction of the entries that caused them; endpoints, what each subscribes to, and one
# delivery row per (endpoint, event), which the delivery workers claim.
alert_settings = Table(
    "alert_settings",
    metadata,
    Column("account_id", String(40), primary_key=True),
    # Percentages of each key's limits, comma-separated and ascending, e.g. "50,80,100".
    Column("key_thresholds", String(400), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

alert_balance_thresholds = Table(
    "alert_balance_thresholds",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("currency", String(16), primary_key=True),
    # account.balance.low fires once when the balance falls below this amount.
    Column("threshold", Money, nullable=False),
)

alert_crossings = Table(
    "alert_crossings",
    metadata,
    Column("account_id", String(40), primary_key=True),
    # '' for an account-level crossing (a primary key column cannot be NULL).
    Column("api_key_id", String(40), primary_key=True),
    # balance.low, key.limit, account.limit, key.reset, key.expiring
    Column("kind", String(40), primary_key=True),
    Column("currency", String(16), primary_key=True),
    # A percentage (limits), an amount (balance.low) or days before expiry (key.expiring).
    Column("threshold", Money, primary_key=True),
    # The limit period's first epoch ms (0 where there is no period).
    Column("period_start_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("created_ms", BigInteger, nullable=False),
)

alert_events = Table(
    "alert_events",
    metadata,
    # evt_...: the id every delivery of this event is sent under, retries and replays included.
    Column("id", String(40), nullable=False),
    Column("account_id", String(40), nullable=False),
    Column("type", String(60), nullable=False),
    Column("api_key_id", String(40), nullable=True),
    Column("currency", String(16), nullable=True),
    Column("threshold", Money, nullable=True),
    # The balance (balance.low) or the period's usage (limit events).
    Column("amount", ExactSum, nullable=True),
    Column("limit_amount", Money, nullable=True),
    Column("limit_period", String(16), nullable=True),
    Column("period_start_ms", BigInteger, nullable=True),
    Column("expires_ms", BigInteger, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("id", "account_id"),  # the account in every key (revision 0013)
    Index("ix_alert_events_account_created", "account_id", "created_ms"),
)

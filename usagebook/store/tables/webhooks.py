"""Webhooks: endpoints, what each subscribes to, and one delivery per endpoint and event."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from usagebook.store.tables.metadata import metadata
from usagebook.store.types import BigId

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), nullable=False),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("secret", String(100), nullable=False),
    # After a rotation the previous secret also signs until previous_expires_ms.
    Column("previous_secret", String(100), nullable=True),
    Column("previous_expires_ms", BigInteger, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    # The account in every key, and in the foreign keys to this one (revision 0013).
    PrimaryKeyConstraint("id", "account_id"),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    # Keyed by account and type first: the write path finds an event's endpoints in one probe.
    Column("account_id", String(40), primary_key=True),
    Column("event_type", String(60), primary_key=True),
    Column("endpoint_id", String(40), primary_key=True),
    ForeignKeyConstraint(["endpoint_id", "account_id"],
                         ["webhook_endpoints.id", "webhook_endpoints.account_id"]),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    # On PostgreSQL the primary key is (id, account_id) (revision 0013); SQLite keeps its rowid.
    Column("id", BigId, primary_key=True, autoincrement=True),
    # The endpoint's (and the event's) account (revision 0013).
    Column("account_id", String(40), nullable=False),
    Column("endpoint_id", String(40), nullable=False),
    Column("event_id", String(40), nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    # When a pending delivery is due; while an attempt is in flight, when its lease ends (a
    # server killed mid-attempt leaves it to be claimed again then, with the same event id).
    Column("next_attempt_ms", BigInteger, nullable=True),
    # Who holds the lease: a finished attempt is written only by the claim it belongs to.
    Column("claim", String(40), nullable=True),
    Column("response_status", Integer, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("endpoint_id", "event_id", "account_id"),
    ForeignKeyConstraint(["endpoint_id", "account_id"],
                         ["webhook_endpoints.id", "webhook_endpoints.account_id"]),
    ForeignKeyConstraint(["event_id", "account_id"],
                         ["alert_events.id", "alert_events.account_id"]),
    Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_ms", "id"),
    Index("ix_webhook_deliveries_status_next", "status", "next_attempt_ms"),
)

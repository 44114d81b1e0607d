"""Alerts and webhooks: alert settings, crossing state (one event per crossing, by a unique
key), the outbox of events, webhook endpoints, their subscriptions and deliveries.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from usagebook.store.types import BigId, ExactSum, Money

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_settings",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("key_thresholds", sa.String(400), nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alert_balance_thresholds",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("currency", sa.String(16), primary_key=True),
        sa.Column("threshold", Money, nullable=False),
    )
    op.create_table(
        "alert_crossings",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("api_key_id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(40), primary_key=True),
        sa.Column("currency", sa.String(16), primary_key=True),
        sa.Column("threshold", Money, primary_key=True),
        sa.Column("period_start_ms", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    _create_outbox()
    _create_webhooks()


def _create_outbox() -> None:
    op.create_table(
        "alert_events",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(60), nullable=False),
        sa.Column("api_key_id", sa.String(40), nullable=True),
        sa.Column("currency", sa.String(16), nullable=True),
        sa.Column("threshold", Money, nullable=True),
        sa.Column("amount", ExactSum, nullable=True),
        sa.Column("limit_amount", Money, nullable=True),
        sa.Column("limit_period", sa.String(16), nullable=True),
        sa.Column("period_start_ms", sa.BigInteger, nullable=True),
        sa.Column("expires_ms", sa.BigInteger, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_alert_events_account_created", "alert_events",
                    ["account_id", "created_ms"])


def _create_webhooks() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100), nullable=True),
        sa.Column("previous_expires_ms", sa.BigInteger, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_webhook_endpoints_account_id", "webhook_endpoints", ["account_id"])
    op.create_table(
        "webhook_subscriptions",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("event_type", sa.String(60), primary_key=True),
        sa.Column("endpoint_id", sa.String(40), sa.ForeignKey("webhook_endpoints.id"),
                  primary_key=True),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("endpoint_id", sa.String(40), sa.ForeignKey("webhook_endpoints.id"),
                  nullable=False),
        sa.Column("event_id", sa.String(40), sa.ForeignKey("alert_events.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_ms", sa.BigInteger, nullable=True),
        sa.Column("claim", sa.String(40), nullable=True),
        sa.Column("response_status", sa.Integer, nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("endpoint_id", "event_id",
                            name="uq_webhook_deliveries_endpoint_id_event_id"),
    )
    op.create_index("ix_webhook_deliveries_endpoint_created", "webhook_deliveries",
                    ["endpoint_id", "created_ms", "id"])
    op.create_index("ix_webhook_deliveries_status_next", "webhook_deliveries",
                    ["status", "next_attempt_ms"])


def downgrade() -> None:
    for table in ("webhook_deliveries", "webhook_subscriptions", "webhook_endpoints",
                  "alert_events", "alert_crossings", "alert_balance_thresholds",
                  "alert_settings"):
        op.drop_table(table)

"""The ledger: accounts, API keys, the SKU catalog and usage entries.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from usagebook.store.types import BigId, Money

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("diem_allocation", Money, nullable=True),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("key_type", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("revoked_ms", sa.BigInteger, nullable=True),
        sa.Column("expires_ms", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_api_keys_account_id", "api_keys", ["account_id"])
    op.create_table(
        "skus",
        sa.Column("sku", sa.String(200), primary_key=True),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_type", sa.String(16), nullable=False),
        sa.Column("unit_type", sa.String(16), nullable=False),
        sa.Column("unit_type_per_unit", Money, nullable=False),
        sa.Column("usage_type", sa.String(40), nullable=False),
        sa.Column("price_per_unit_usd", Money, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "usage_entries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("api_key_id", sa.String(40), nullable=True),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("sku", sa.String(200), nullable=False),
        sa.Column("price_per_unit_usd", Money, nullable=False),
        sa.Column("units", Money, nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("currency", sa.String(16), nullable=False),
        sa.Column("notes", sa.Text, nullable=True),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("execution_ms", sa.Integer, nullable=True),
        sa.Column("prompt_tokens", sa.Integer, nullable=True),
        sa.Column("completion_tokens", sa.Integer, nullable=True),
        sa.UniqueConstraint(
            "account_id", "request_id", "sku", name="uq_usage_entries_account_id_request_id_sku"
        ),
    )
    op.create_index("ix_usage_entries_account_ts", "usage_entries", ["account_id", "ts_ms", "id"])
    op.create_index(
        "ix_usage_entries_account_currency_ts",
        "usage_entries",
        ["account_id", "currency", "ts_ms", "id"],
    )


def downgrade() -> None:
    op.drop_table("usage_entries")
    op.drop_table("skus")
    op.drop_table("api_keys")
    op.drop_table("accounts")

"""Admission: holds (POST /usage/authorize), account-level monthly limits, overspend per month.

Nothing to backfill: no hold, limit or overspend exists before this revision.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from usagebook.store.types import ExactSum, Money

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LIVE = sa.text("settled_ms IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("monthly_limit_usd", Money, nullable=True))
        batch.add_column(sa.Column("monthly_limit_diem", Money, nullable=True))
    op.create_table(
        "holds",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("api_key_id", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(16), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
        sa.Column("settled_ms", sa.BigInteger, nullable=True),
        sa.Column("request_id", sa.String(200), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_holds"),
        sa.UniqueConstraint("api_key_id", "request_id", name="uq_holds_api_key_id_request_id"),
    )
    op.create_index("ix_holds_account_live", "holds", ["account_id", "expires_ms"],
                    postgresql_where=LIVE, sqlite_where=LIVE)
    op.create_table(
        "overspend_months",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("month_ms", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("usd", ExactSum, nullable=False),
        sa.Column("diem", ExactSum, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "month_ms", name="pk_overspend_months"),
    )


def downgrade() -> None:
    op.drop_table("overspend_months")
    op.drop_index("ix_holds_account_live", table_name="holds")
    op.drop_table("holds")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("monthly_limit_diem")
        batch.drop_column("monthly_limit_usd")

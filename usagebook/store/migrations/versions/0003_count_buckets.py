"""Count buckets for exact totals and deep pages: entries per account, currency and UTC hour,
backfilled from the entries already stored.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The hour's first ms, floored also for negative timestamps (both backends' % truncates).
_HOUR = "ts_ms - (((ts_ms % 3600000) + 3600000) % 3600000)"


def upgrade() -> None:
    op.create_table(
        "usage_count_buckets",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(16), nullable=False),
        sa.Column("hour_ms", sa.BigInteger, nullable=False),
        sa.Column("entries", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "currency", "hour_ms",
                                name="pk_usage_count_buckets"),
    )
    op.execute(
        "INSERT INTO usage_count_buckets (account_id, currency, hour_ms, entries) "
        f"SELECT account_id, currency, {_HOUR}, COUNT(*) FROM usage_entries "
        "GROUP BY account_id, currency, " + _HOUR
    )


def downgrade() -> None:
    op.drop_table("usage_count_buckets")

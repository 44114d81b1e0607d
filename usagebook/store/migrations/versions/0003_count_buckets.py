"""Count buckets for exact totals and deep pages: entries per account, currency and UTC hour,
and the same per UTC day, backfilled from the entries already stored.

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
_DAY = "hour_ms - (((hour_ms % 86400000) + 86400000) % 86400000)"


def _bucket_table(name: str, time_column: str) -> None:
    op.create_table(
        name,
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column(time_column, sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(16), nullable=False),
        sa.Column("entries", sa.BigInteger, nullable=False),
        # Time before currency: a time range is one index range, with or without a currency.
        sa.PrimaryKeyConstraint("account_id", time_column, "currency", name=f"pk_{name}"),
    )


def upgrade() -> None:
    _bucket_table("usage_count_buckets", "hour_ms")
    _bucket_table("usage_count_days", "day_ms")
    op.execute(
        "INSERT INTO usage_count_buckets (account_id, currency, hour_ms, entries) "
        f"SELECT account_id, currency, {_HOUR}, COUNT(*) FROM usage_entries "
        "GROUP BY account_id, currency, " + _HOUR
    )
    op.execute(
        "INSERT INTO usage_count_days (account_id, currency, day_ms, entries) "
        f"SELECT account_id, currency, {_DAY}, SUM(entries) FROM usage_count_buckets "
        "GROUP BY account_id, currency, " + _DAY
    )


def downgrade() -> None:
    op.drop_table("usage_count_days")
    op.drop_table("usage_count_buckets")

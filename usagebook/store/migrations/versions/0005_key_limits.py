"""Per-key spending limits (USD, DIEM, VCU; NULL = no limit), their window, the key's model
privacy and when it was last used; an index to read one key's rollup rows by day; the log of
rate-limit refusals (`GET /api_keys/rate_limits/log`).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from usagebook.store.types import BigId, Money

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LIMIT_COLUMNS = ("consumption_limit_usd", "consumption_limit_diem", "consumption_limit_vcu")


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        for name in LIMIT_COLUMNS:
            batch.add_column(sa.Column(name, Money, nullable=True))
        batch.add_column(sa.Column("limit_period", sa.String(16), nullable=False,
                                   server_default="EPOCH"))
        batch.add_column(sa.Column("model_privacy", sa.String(16), nullable=False,
                                   server_default="ALL"))
        batch.add_column(sa.Column("last_used_ms", sa.BigInteger, nullable=True))
    # A key's spend in its window is a range of this index (the primary key starts with the day,
    # so without it a LIFETIME sum would read every key's rows of the account).
    op.create_index("ix_rollup_day_key_account_key_day", "rollup_day_key",
                    ["account_id", "api_key_id", "day_ms"])
    op.create_table(
        "rate_limit_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("api_key_id", sa.String(40), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("rate_limit_tier", sa.String(40), nullable=False),
        sa.Column("rate_limit_type", sa.String(16), nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rate_limit_log"),
    )
    op.create_index("ix_rate_limit_log_account_id_id", "rate_limit_log", ["account_id", "id"])


def downgrade() -> None:
    op.drop_table("rate_limit_log")
    op.drop_index("ix_rollup_day_key_account_key_day", "rollup_day_key")
    with op.batch_alter_table("api_keys") as batch:
        for name in ("last_used_ms", "model_privacy", "limit_period", *reversed(LIMIT_COLUMNS)):
            batch.drop_column(name)

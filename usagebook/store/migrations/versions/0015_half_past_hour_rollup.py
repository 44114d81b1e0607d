"""Hours that start at half past a UTC hour, per SKU: each local hour of a zone whose offset is
a whole hour and a half (India +05:30, Iran +03:30, Newfoundland -03:30, Central Australia
+09:30, ...) is then one of these rows, where it was two half hours (store.bucket_plan).

Backfilled from the quarter-hour SKU rollup (see 0014 for why not from the entries).

Revision ID: 0015
Revises: 0014
"""

from alembic import op

from usagebook.store.migrations.grain_rollup import SKU, create_grain_rollup

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLE = "rollup_half_past_hour_sku"


def upgrade() -> None:
    create_grain_rollup(TABLE, "half_past_hour_ms", 3_600_000, 1_800_000, SKU)


def downgrade() -> None:
    op.drop_table(TABLE)

"""Six hours that start at half past (00:30, 06:30, 12:30 and 18:30 UTC), per SKU: a local day
of a +05:30 zone (India, Sri Lanka: 18:30 to 18:30 UTC) is then four of these rows, each read
by one day only, where it was its UTC day plus two signed edges of two rows each
(store.bucket_plan). The days of other half-hour offsets start at other half pasts; the plan
reads these rows for them where they are cheaper.

Backfilled from the quarter-hour SKU rollup (see 0014 for why not from the entries).

Revision ID: 0016
Revises: 0015
"""

from alembic import op

from usagebook.store.migrations.grain_rollup import SKU, create_grain_rollup

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLE = "rollup_half_past_six_hour_sku"


def upgrade() -> None:
    create_grain_rollup(TABLE, "half_past_six_hour_ms", 21_600_000, 1_800_000, SKU)


def downgrade() -> None:
    op.drop_table(TABLE)

"""Six-hour and half-hour analytics rollups, per SKU and per key (without the SKU), so that the
edge between a UTC midnight and a local one reads a few rows: a Kolkata midnight (18:30 UTC) is
the six hours from 18:00 less their first half hour, where it was five hours and two quarters
(store.bucket_plan).

Backfilled from the quarter-hour rollups, not from the entries: each new grain is a whole number
of quarter hours, and the rollups still count the entries of months archived since
(store.partitions), which the entries no longer hold.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

from usagebook.store.migrations.grain_rollup import KEY, SKU, create_grain_rollup

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Bucket column and size in ms, per grain.
GRAINS = {"six_hour": 21_600_000, "half_hour": 1_800_000}
TABLES = [(f"rollup_{grain}_{dimension}", f"{grain}_ms", size, columns)
          for grain, size in GRAINS.items()
          for dimension, columns in (("sku", SKU), ("key", KEY))]


def upgrade() -> None:
    for table, column, size, dimension in TABLES:
        create_grain_rollup(table, column, size, 0, dimension)


def downgrade() -> None:
    for table, *_ in reversed(TABLES):
        op.drop_table(table)

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

import sqlalchemy as sa
from alembic import op

from usagebook.store.types import Money

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Bucket column and size in ms, per grain.
GRAINS = {"six_hour": 21_600_000, "half_hour": 1_800_000}
# Per dimension: its extra key column, its type, and the quarter-hour rollup it is summed from.
DIMENSIONS = {
    "sku": ("sku", sa.String(200), "rollup_quarter_sku"),
    "key": ("api_key_id", sa.String(40), "rollup_quarter_key"),
}


def tables() -> list[tuple[str, str, int, str, sa.types.TypeEngine[str], str]]:
    return [(f"rollup_{grain}_{dimension}", f"{grain}_ms", size, name, kind, source)
            for grain, size in GRAINS.items()
            for dimension, (name, kind, source) in DIMENSIONS.items()]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column, size, name, kind, source in tables():
        op.create_table(
            table,
            sa.Column("account_id", sa.String(40), nullable=False),
            sa.Column(column, sa.BigInteger, nullable=False),
            sa.Column("currency", sa.String(16), nullable=False),
            sa.Column(name, kind, nullable=False),
            sa.Column("amount", Money, nullable=False),
            sa.Column("units", Money, nullable=False),
            sa.PrimaryKeyConstraint("account_id", column, "currency", name, name=f"pk_{table}"),
            # See 0004: SQLite would turn an overflowing integer sum into a float silently.
            *([sa.CheckConstraint("typeof(amount) = 'integer' AND typeof(units) = 'integer'",
                                  name="integer_nanos")] if sqlite else []),
        )
        # Floored starts (both backends' % truncates toward zero before 1970), written in time
        # order as the write path leaves them.
        start = f"quarter_ms - (((quarter_ms % {size}) + {size}) % {size})"
        op.execute(
            f"INSERT INTO {table} (account_id, {column}, currency, {name}, amount, units) "
            f"SELECT account_id, {start}, currency, {name}, SUM(amount), SUM(units) "
            f"FROM {source} GROUP BY account_id, {start}, currency, {name} "
            f"ORDER BY account_id, {start}"
        )


def downgrade() -> None:
    for table, *_ in reversed(tables()):
        op.drop_table(table)

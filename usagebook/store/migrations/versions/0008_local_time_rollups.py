"""Hour and quarter-hour analytics rollups, so that analytics in any time zone are exact: every
IANA zone's local midnights and hours fall on UTC quarter hours (from 1972 on; earlier odd
offsets are summed from the entries), backfilled from the entries already stored.

Per hour and per quarter: currency; currency x SKU; currency x key x SKU (the SKU, so that units
of a key's usage can be counted in each SKU's unit type).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from usagebook.store.types import Money

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Bucket column and size in ms, per grain.
GRAINS = {"hour": 3_600_000, "quarter": 900_000}
# Extra key columns of each dimension: (name, type, the SQL that fills it from usage_entries).
DIMENSIONS: dict[str, list[tuple[str, sa.types.TypeEngine[str], str]]] = {
    "currency": [],
    "sku": [("sku", sa.String(200), "sku")],
    "key": [("api_key_id", sa.String(40), "COALESCE(api_key_id, '')"),
            ("sku", sa.String(200), "sku")],
}


def tables() -> list[tuple[str, str, int, list[tuple[str, sa.types.TypeEngine[str], str]]]]:
    return [(f"rollup_{grain}_{dimension}", f"{grain}_ms", size, extra)
            for grain, size in GRAINS.items() for dimension, extra in DIMENSIONS.items()]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column, size, extra in tables():
        keys = ["account_id", column, "currency", *(name for name, _, _ in extra)]
        op.create_table(
            table,
            sa.Column("account_id", sa.String(40), nullable=False),
            sa.Column(column, sa.BigInteger, nullable=False),
            sa.Column("currency", sa.String(16), nullable=False),
            *(sa.Column(name, kind, nullable=False) for name, kind, _ in extra),
            sa.Column("amount", Money, nullable=False),
            sa.Column("units", Money, nullable=False),
            sa.PrimaryKeyConstraint(*keys, name=f"pk_{table}"),
            # See 0004: SQLite would turn an overflowing integer sum into a float silently.
            *([sa.CheckConstraint("typeof(amount) = 'integer' AND typeof(units) = 'integer'",
                                  name="integer_nanos")] if sqlite else []),
        )
        # Floored bucket starts (both backends' % truncates toward zero before 1970). Written
        # in time order, as the write path leaves them: a range of buckets is then a few pages,
        # not one page per row.
        start = f"ts_ms - (((ts_ms % {size}) + {size}) % {size})"
        names = "".join(f", {name}" for name, _, _ in extra)
        values = "".join(f", {value}" for _, _, value in extra)
        op.execute(
            f"INSERT INTO {table} (account_id, {column}, currency{names}, amount, units) "
            f"SELECT account_id, {start}, currency{values}, SUM(amount), SUM(units) "
            f"FROM usage_entries GROUP BY account_id, {start}, currency{values} "
            f"ORDER BY account_id, {start}"
        )


def downgrade() -> None:
    for table, _, _, _ in reversed(tables()):
        op.drop_table(table)

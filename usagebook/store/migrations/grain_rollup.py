"""A grain rollup (revisions 0014, 0015, 0016) created and backfilled from a quarter-hour
rollup, not from the entries: each grain is a whole number of quarter hours, and the rollups
still count the entries of months archived since (store.partitions), which the entries no
longer hold. What each revision created is fixed by the arguments it passes."""

import sqlalchemy as sa
from alembic import op

from usagebook.store.types import Money

SKU = ("sku", sa.String(200), "rollup_quarter_sku")
KEY = ("api_key_id", sa.String(40), "rollup_quarter_key")


def create_grain_rollup(table: str, column: str, size: int, phase: int,
                        dimension: tuple[str, sa.types.TypeEngine[str], str]) -> None:
    """`table` per account, unit (its first ms in `column`: phase + n * size), currency and
    the dimension's column (SKU or key), summed from the dimension's quarter-hour rollup."""
    name, kind, source = dimension
    sqlite = op.get_bind().dialect.name == "sqlite"
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
    # Floored from the phase (both backends' % truncates toward zero before 1970), written in
    # time order as the write path leaves them.
    start = f"quarter_ms - ((((quarter_ms - {phase}) % {size}) + {size}) % {size})"
    op.execute(
        f"INSERT INTO {table} (account_id, {column}, currency, {name}, amount, units) "
        f"SELECT account_id, {start}, currency, {name}, SUM(amount), SUM(units) "
        f"FROM {source} GROUP BY account_id, {start}, currency, {name} "
        f"ORDER BY account_id, {start}"
    )

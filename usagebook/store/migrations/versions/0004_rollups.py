"""Daily analytics rollups (day x currency, day x currency x sku, day x currency x key),
backfilled from the entries already stored.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from usagebook.store.types import Money

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MS_PER_DAY = 86_400_000
# Extra key column of each rollup, and the SQL that fills it from usage_entries.
ROLLUPS = {
    "rollup_day_currency": None,
    "rollup_day_sku": ("sku", sa.String(200), "sku"),
    "rollup_day_key": ("api_key_id", sa.String(40), "COALESCE(api_key_id, '')"),
}


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, extra in ROLLUPS.items():
        keys = ["account_id", "day_ms", "currency", *([extra[0]] if extra else [])]
        op.create_table(
            table,
            sa.Column("account_id", sa.String(40), nullable=False),
            sa.Column("day_ms", sa.BigInteger, nullable=False),
            sa.Column("currency", sa.String(16), nullable=False),
            *([sa.Column(extra[0], extra[1], nullable=False)] if extra else []),
            sa.Column("amount", Money, nullable=False),
            sa.Column("units", Money, nullable=False),
            sa.PrimaryKeyConstraint(*keys, name=f"pk_{table}"),
            *_exact_nanos(sqlite),
        )
        _backfill(table, extra)


def _exact_nanos(sqlite: bool) -> list[sa.CheckConstraint]:
    # SQLite turns an integer sum that overflows 64 bits into a float without a word; this
    # check refuses the batch instead (a rollup row holds at most +-9.2 billion per currency).
    if not sqlite:
        return []
    return [sa.CheckConstraint("typeof(amount) = 'integer' AND typeof(units) = 'integer'",
                               name="integer_nanos")]


def _backfill(table: str, extra: tuple[str, sa.types.TypeEngine[str], str] | None) -> None:
    # Integer division on both backends (ts_ms is a positive BIGINT); amounts and units sum
    # exactly (NUMERIC on PostgreSQL, integer nano-units on SQLite).
    day = f"(ts_ms / {MS_PER_DAY}) * {MS_PER_DAY}"
    column = f", {extra[0]}" if extra else ""
    value = f", {extra[2]}" if extra else ""
    op.execute(
        f"INSERT INTO {table} (account_id, day_ms, currency{column}, amount, units) "
        f"SELECT account_id, {day}, currency{value}, SUM(amount), SUM(units) "
        f"FROM usage_entries GROUP BY account_id, {day}, currency{value}"
    )


def downgrade() -> None:
    for table in reversed(ROLLUPS):
        op.drop_table(table)

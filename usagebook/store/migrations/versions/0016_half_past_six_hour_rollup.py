"""Six hours that start at half past (00:30, 06:30, 12:30 and 18:30 UTC), per SKU: a local day
of a +05:30 zone (India, Sri Lanka: 18:30 to 18:30 UTC) is then four of these rows, each read
by one day only, where it was its UTC day plus two signed edges of two rows each
(store.bucket_plan). Other half-hour offsets' days start at other half pasts; the plan uses
these rows for them only where they are cheaper.

Backfilled from the quarter-hour SKU rollup (see 0014 for why not from the entries).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

from usagebook.store.types import Money

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLE = "rollup_half_past_six_hour_sku"


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        TABLE,
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("half_past_six_hour_ms", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(16), nullable=False),
        sa.Column("sku", sa.String(200), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("units", Money, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "half_past_six_hour_ms", "currency", "sku",
                                name=f"pk_{TABLE}"),
        # See 0004: SQLite would turn an overflowing integer sum into a float silently.
        *([sa.CheckConstraint("typeof(amount) = 'integer' AND typeof(units) = 'integer'",
                              name="integer_nanos")] if sqlite else []),
    )
    # Floored from half past (both backends' % truncates toward zero before 1970).
    start = "quarter_ms - ((((quarter_ms - 1800000) % 21600000) + 21600000) % 21600000)"
    op.execute(
        f"INSERT INTO {TABLE} (account_id, half_past_six_hour_ms, currency, sku, amount, units) "
        f"SELECT account_id, {start}, currency, sku, SUM(amount), SUM(units) "
        f"FROM rollup_quarter_sku GROUP BY account_id, {start}, currency, sku "
        f"ORDER BY account_id, {start}"
    )


def downgrade() -> None:
    op.drop_table(TABLE)

"""Recording: credit grants and balances, as projections over the entries already stored.

`account_balances` holds, per account and currency (USD, BUNDLED_CREDITS), what was granted and
what entries consumed; `diem_days` holds the DIEM consumed per account and UTC day. Both are
backfilled here from the entries stored before this revision, so that balance = grants - charges
holds from the first moment.

Revision ID: 0002
Revises: 0001
"""

from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

from usagebook.money import from_nanos
from usagebook.store.types import BigId, ExactSum, Money

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MS_PER_DAY = 86_400_000


def upgrade() -> None:
    op.create_table(
        "credit_grants",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("currency", sa.String(16), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("notes", sa.Text, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ix_credit_grants_account_created", "credit_grants", ["account_id", "created_ms", "id"]
    )
    op.create_table(
        "account_balances",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("currency", sa.String(16), primary_key=True),
        sa.Column("granted", ExactSum, nullable=False),
        sa.Column("consumed", ExactSum, nullable=False),
    )
    op.create_table(
        "diem_days",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("consumed", ExactSum, nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        _backfill_sqlite()
        return
    op.execute(
        "INSERT INTO account_balances (account_id, currency, granted, consumed) "
        "SELECT account_id, currency, 0, SUM(-amount) FROM usage_entries "
        "WHERE currency IN ('USD', 'BUNDLED_CREDITS') GROUP BY account_id, currency"
    )
    op.execute(
        "INSERT INTO diem_days (account_id, day, consumed) "
        f"SELECT account_id, ts_ms / {MS_PER_DAY}, SUM(-amount) FROM usage_entries "
        f"WHERE currency = 'DIEM' GROUP BY account_id, ts_ms / {MS_PER_DAY}"
    )


def _backfill_sqlite() -> None:
    """Sum in Python: SQLite's integer SUM of nano-units could overflow where Decimal cannot."""
    credits: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    days: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    rows = op.get_bind().execute(
        sa.text("SELECT account_id, currency, ts_ms, amount FROM usage_entries")
    )
    for account_id, currency, ts_ms, amount in rows:
        if currency == "DIEM":
            days[(account_id, ts_ms // MS_PER_DAY)] -= from_nanos(amount)
        else:
            credits[(account_id, currency)] -= from_nanos(amount)
    balances = sa.table(
        "account_balances",
        sa.column("account_id"),
        sa.column("currency"),
        sa.column("granted", ExactSum),
        sa.column("consumed", ExactSum),
    )
    diem = sa.table(
        "diem_days", sa.column("account_id"), sa.column("day"), sa.column("consumed", ExactSum)
    )
    if credits:
        op.bulk_insert(
            balances,
            [
                {"account_id": a, "currency": c, "granted": Decimal(0), "consumed": v}
                for (a, c), v in sorted(credits.items())
            ],
        )
    if days:
        op.bulk_insert(
            diem, [{"account_id": a, "day": d, "consumed": v} for (a, d), v in sorted(days.items())]
        )


def downgrade() -> None:
    op.drop_table("diem_days")
    op.drop_table("account_balances")
    op.drop_index("ix_credit_grants_account_created", table_name="credit_grants")
    op.drop_table("credit_grants")

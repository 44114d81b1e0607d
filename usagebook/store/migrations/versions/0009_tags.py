"""Tags on entries (`usage_entries.tags`, canonical JSON text, NULL for none) and the tag rollup:
sums per account, quarter hour, tag key and value, currency and SKU. Nothing to backfill: no
entry has tags before this revision.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from usagebook.store.types import Money

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("usage_entries") as batch:
        batch.add_column(sa.Column("tags", sa.Text, nullable=True))
    keys = ("account_id", "quarter_ms", "tag_key", "tag_value", "currency", "sku")
    op.create_table(
        "rollup_quarter_tag",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("quarter_ms", sa.BigInteger, nullable=False),
        sa.Column("tag_key", sa.String(32), nullable=False),
        sa.Column("tag_value", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(16), nullable=False),
        sa.Column("sku", sa.String(200), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("units", Money, nullable=False),
        sa.PrimaryKeyConstraint(*keys, name="pk_rollup_quarter_tag"),
        *([sa.CheckConstraint("typeof(amount) = 'integer' AND typeof(units) = 'integer'",
                              name="integer_nanos")] if sqlite else []),
    )


def downgrade() -> None:
    op.drop_table("rollup_quarter_tag")
    with op.batch_alter_table("usage_entries") as batch:
        batch.drop_column("tags")

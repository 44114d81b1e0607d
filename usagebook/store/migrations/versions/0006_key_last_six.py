"""The last six characters of each new key's secret (Venice's `last6Chars`), so that a key can
be recognised in a list without storing its secret. Keys made before this revision have none.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("secret_last6", sa.String(6), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("secret_last6")

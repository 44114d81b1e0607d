"""Indexes for an account's entries of one API key, and of one SKU, in ledger order: the
`apiKeyId` and `modelId` filters of /billing/usage count and page them without reading the
account's other entries (a model is a few SKUs, each one index range). The key's index also
holds the SKU, after the unique (ts_ms, id), so a key and a model together are counted from
that index alone (without it PostgreSQL scanned the whole table: 2.5 s on 5M entries).

Building them reads every entry once; on PostgreSQL the table takes no writes meanwhile
(a plain CREATE INDEX, as the other revisions'), so run the upgrade in a quiet moment.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_usage_entries_account_key_ts", "usage_entries",
                    ["account_id", "api_key_id", "ts_ms", "id", "sku"])
    op.create_index("ix_usage_entries_account_sku_ts", "usage_entries",
                    ["account_id", "sku", "ts_ms", "id"])


def downgrade() -> None:
    op.drop_index("ix_usage_entries_account_sku_ts", table_name="usage_entries")
    op.drop_index("ix_usage_entries_account_key_ts", table_name="usage_entries")

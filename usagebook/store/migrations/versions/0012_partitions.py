"""PostgreSQL: `usage_entries` partitioned by UTC month of ts_ms, and idempotency apart in
`usage_request_keys` (see store.partitions). The stored entries are copied into the partitioned
table (months before MIGRATE_MONTHS_BEHIND go to the default partition, one table instead of a
partition per long-past month) and their keys into `usage_request_keys`. SQLite: nothing; its
ledger stays one plain table with its unique key.

Revision ID: 0012
Revises: 0011
"""

import time

from alembic import op
from sqlalchemy import text

from usagebook.store.partitions import DEFAULT, MONTHS_AHEAD, Month, ensure_months

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MIGRATE_MONTHS_BEHIND = 24
_OLD = "usage_entries_unpartitioned"
# The secondary indexes both shapes of the table have (revisions 0001 and 0011).
_INDEX_COLUMNS = {
    "ix_usage_entries_account_currency_ts": "account_id, currency, ts_ms, id",
    "ix_usage_entries_account_key_ts": "account_id, api_key_id, ts_ms, id, sku",
    "ix_usage_entries_account_sku_ts": "account_id, sku, ts_ms, id",
}
_INDEXES = tuple(_INDEX_COLUMNS)


def _create_indexes() -> None:
    for name, columns in _INDEX_COLUMNS.items():
        op.execute(f"CREATE INDEX {name} ON usage_entries ({columns})")


def _primary_key_name(table: str) -> str:
    return str(op.get_bind().execute(text(
        f"SELECT conname FROM pg_constraint WHERE conrelid = '{table}'::regclass "
        "AND contype = 'p'")).scalar_one())


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # The old table keeps its rows to copy; its index and constraint names go to the new one.
    op.execute(f"ALTER TABLE usage_entries RENAME TO {_OLD}")
    op.execute("ALTER SEQUENCE usage_entries_id_seq OWNED BY NONE")
    op.execute(f"ALTER TABLE {_OLD} DROP CONSTRAINT {_primary_key_name(_OLD)}")
    op.execute(f"ALTER TABLE {_OLD} DROP CONSTRAINT uq_usage_entries_account_id_request_id_sku")
    for index in (*_INDEXES, "ix_usage_entries_account_ts"):
        op.execute(f"DROP INDEX {index}")
    # The primary key holds the partition key, as PostgreSQL requires, and the account, as
    # Citus would (a distributed table's keys must hold its distribution column); it is also
    # the ledger order's index, which the unpartitioned table had apart. Ids stay unique by
    # their sequence; `ix_usage_entries_id` answers max(id), the paging snapshot's bound.
    op.execute(f"CREATE TABLE usage_entries (LIKE {_OLD} INCLUDING DEFAULTS, "
               "CONSTRAINT pk_usage_entries PRIMARY KEY (account_id, ts_ms, id)) "
               "PARTITION BY RANGE (ts_ms)")
    op.execute("ALTER SEQUENCE usage_entries_id_seq OWNED BY usage_entries.id")
    op.execute("CREATE INDEX ix_usage_entries_id ON usage_entries (id)")
    _create_indexes()
    op.execute(f"CREATE TABLE {DEFAULT} PARTITION OF usage_entries DEFAULT")
    now = Month.of(int(time.time() * 1000))
    oldest = bind.execute(text(f"SELECT min(ts_ms) FROM {_OLD}")).scalar()
    first = now if oldest is None else max(min(Month.of(int(oldest)), now),
                                            now.following(-MIGRATE_MONTHS_BEHIND))
    ensure_months(bind, first, now.following(MONTHS_AHEAD))
    op.execute(f"INSERT INTO usage_entries SELECT * FROM {_OLD}")
    op.execute(
        "CREATE TABLE usage_request_keys ("
        "account_id varchar(40) NOT NULL, request_id varchar(200) NOT NULL, "
        "sku varchar(200) NOT NULL, entry_id bigint NOT NULL, ts_ms bigint NOT NULL, "
        "CONSTRAINT pk_usage_request_keys PRIMARY KEY (account_id, request_id, sku))")
    op.execute("INSERT INTO usage_request_keys (account_id, request_id, sku, entry_id, ts_ms) "
               f"SELECT account_id, request_id, sku, id, ts_ms FROM {_OLD}")
    op.execute(f"DROP TABLE {_OLD}")
    op.execute("ANALYZE usage_entries")
    op.execute("ANALYZE usage_request_keys")


def downgrade() -> None:
    """One plain table again, with its unique key (archived entries stay archived)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE usage_entries RENAME TO {_OLD}")
    op.execute("ALTER SEQUENCE usage_entries_id_seq OWNED BY NONE")
    op.execute(f"ALTER TABLE {_OLD} DROP CONSTRAINT pk_usage_entries")
    for index in (*_INDEXES, "ix_usage_entries_id"):
        op.execute(f"DROP INDEX {index}")
    op.execute(f"CREATE TABLE usage_entries (LIKE {_OLD} INCLUDING DEFAULTS, "
               "CONSTRAINT pk_usage_entries PRIMARY KEY (id), "
               "CONSTRAINT uq_usage_entries_account_id_request_id_sku "
               "UNIQUE (account_id, request_id, sku))")
    op.execute("ALTER SEQUENCE usage_entries_id_seq OWNED BY usage_entries.id")
    op.execute(f"INSERT INTO usage_entries SELECT * FROM {_OLD}")
    op.execute("CREATE INDEX ix_usage_entries_account_ts ON usage_entries (account_id, ts_ms, id)")
    _create_indexes()
    op.execute(f"DROP TABLE {_OLD}")
    op.execute("DROP TABLE usage_request_keys")

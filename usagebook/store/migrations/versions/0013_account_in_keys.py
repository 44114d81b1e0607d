"""Every primary and unique key carries the account, as Citus requires of a table distributed by
account (docs/scaling.md, Citus): `webhook_deliveries` gains `account_id` (its endpoint's), and
the keys of api_keys, holds, alert_events, webhook_endpoints and webhook_deliveries, and on
PostgreSQL those of credit_grants and rate_limit_log, gain it too; foreign keys between those
tables carry it as well.

The account comes after the id (`(id, account_id)`, `(secret_hash, account_id)`): the lookups
that do not know the account (a key by its secret's hash or its id, a hold by its id) stay one
probe of the key's index, with no index added. A key, a hold and an endpoint each belong to one
account, so no key admits a row the old one refused, except an id or a secret hash repeated in
another account (ids and secrets are random: 96 and 256 bits).

SQLite keeps `id INTEGER PRIMARY KEY` where the id is generated (credit_grants, rate_limit_log,
webhook_deliveries): it is SQLite's only autoincrement, and a one-file database is never
distributed. Its string-keyed tables are rebuilt with the new keys (batch mode).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Tables whose primary key becomes (id, account_id); the generated-id ones on PostgreSQL only.
_STRING_KEYED = ("api_keys", "holds", "alert_events", "webhook_endpoints")
_GENERATED_IDS = ("credit_grants", "rate_limit_log", "webhook_deliveries")
# table -> (old unique key, new unique key)
_UNIQUE = {
    "api_keys": (["secret_hash"], ["secret_hash", "account_id"]),
    "holds": (["api_key_id", "request_id"], ["api_key_id", "request_id", "account_id"]),
    "webhook_deliveries": (["endpoint_id", "event_id"], ["endpoint_id", "event_id", "account_id"]),
}
# (table, column, referred table): the foreign keys to tables whose primary key changes.
_FOREIGN = (
    ("webhook_subscriptions", "endpoint_id", "webhook_endpoints"),
    ("webhook_deliveries", "endpoint_id", "webhook_endpoints"),
    ("webhook_deliveries", "event_id", "alert_events"),
)


def _uq(table: str, columns: list[str]) -> str:
    return f"uq_{table}_{'_'.join(columns)}"


def _fk(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


def upgrade() -> None:
    op.add_column("webhook_deliveries", sa.Column("account_id", sa.String(40), nullable=True))
    op.execute("UPDATE webhook_deliveries SET account_id = (SELECT e.account_id FROM "
               "webhook_endpoints e WHERE e.id = webhook_deliveries.endpoint_id)")
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_postgresql() -> None:
    op.execute("ALTER TABLE webhook_deliveries ALTER COLUMN account_id SET NOT NULL")
    for table, column, referred in _FOREIGN:
        op.drop_constraint(_fk(table, column, referred), table, type_="foreignkey")
    for table in (*_STRING_KEYED, *_GENERATED_IDS):
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, "
                   f"ADD CONSTRAINT pk_{table} PRIMARY KEY (id, account_id)")
    for table, (old, new) in _UNIQUE.items():
        op.drop_constraint(_uq(table, old), table, type_="unique")
        op.create_unique_constraint(_uq(table, new), table, new)
    for table, column, referred in _FOREIGN:
        op.create_foreign_key(_fk(table, column, referred), table, referred,
                              [column, "account_id"], ["id", "account_id"])


def _upgrade_sqlite() -> None:
    # Batch mode rebuilds each table; the referring tables last, once their targets' keys exist.
    for table in _STRING_KEYED:
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", ["id", "account_id"])
            if table in _UNIQUE:
                old, new = _UNIQUE[table]
                batch.drop_constraint(_uq(table, old), type_="unique")
                batch.create_unique_constraint(_uq(table, new), new)
    for table in ("webhook_subscriptions", "webhook_deliveries"):
        with op.batch_alter_table(table, recreate="always") as batch:
            if table == "webhook_deliveries":
                batch.alter_column("account_id", existing_type=sa.String(40), nullable=False)
                old, new = _UNIQUE[table]
                batch.drop_constraint(_uq(table, old), type_="unique")
                batch.create_unique_constraint(_uq(table, new), new)
            for source, column, referred in _FOREIGN:
                if source == table:
                    batch.drop_constraint(_fk(table, column, referred), type_="foreignkey")
                    batch.create_foreign_key(_fk(table, column, referred), referred,
                                             [column, "account_id"], ["id", "account_id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _downgrade_postgresql()
    else:
        _downgrade_sqlite()


def _downgrade_postgresql() -> None:
    for table, column, referred in _FOREIGN:
        op.drop_constraint(_fk(table, column, referred), table, type_="foreignkey")
    for table, (old, new) in _UNIQUE.items():
        op.drop_constraint(_uq(table, new), table, type_="unique")
        op.create_unique_constraint(_uq(table, old), table, old)
    for table in (*_STRING_KEYED, *_GENERATED_IDS):
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, "
                   f"ADD CONSTRAINT pk_{table} PRIMARY KEY (id)")
    for table, column, referred in _FOREIGN:
        op.create_foreign_key(_fk(table, column, referred), table, referred, [column], ["id"])
    op.drop_column("webhook_deliveries", "account_id")


def _downgrade_sqlite() -> None:
    for table in ("webhook_subscriptions", "webhook_deliveries"):
        with op.batch_alter_table(table, recreate="always") as batch:
            for source, column, referred in _FOREIGN:
                if source == table:
                    batch.drop_constraint(_fk(table, column, referred), type_="foreignkey")
                    batch.create_foreign_key(_fk(table, column, referred), referred,
                                             [column], ["id"])
            if table == "webhook_deliveries":
                old, new = _UNIQUE[table]
                batch.drop_constraint(_uq(table, new), type_="unique")
                batch.create_unique_constraint(_uq(table, old), old)
                batch.drop_column("account_id")
    for table in _STRING_KEYED:
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", ["id"])
            if table in _UNIQUE:
                old, new = _UNIQUE[table]
                batch.drop_constraint(_uq(table, new), type_="unique")
                batch.create_unique_constraint(_uq(table, old), old)

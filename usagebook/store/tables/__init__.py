"""The schema, as SQLAlchemy Core tables, one module per group of what they hold. Migrations in
`migrations/versions` create the same.

    metadata    the one MetaData and its naming convention
    accounts    accounts, API keys and their limits, the keys' rate-limit refusals
    catalog     SKUs and their prices
    entries     usage entries, their idempotency keys, their counts per hour and day
    balances    credit grants, balances, DIEM per day
    rollups     the analytics rollups per day, hour and quarter hour
    admission   holds and overspend
    alerts      alert settings, thresholds, crossings and events
    webhooks    endpoints, subscriptions and deliveries

Importing the package imports every module, so that `metadata` (which Alembic's environment
compares the database with) holds every table whichever module a caller imported first; it
re-exports no table: import a table from its module.
"""

from usagebook.store.tables import (  # noqa: F401  (registers every table in metadata)
    accounts,
    admission,
    alerts,
    balances,
    catalog,
    entries,
    rollups,
    webhooks,
)
from usagebook.store.tables.metadata import metadata

__all__ = ["metadata"]

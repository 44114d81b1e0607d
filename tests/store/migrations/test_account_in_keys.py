"""Migration 0013 gives webhook deliveries their endpoint's account and puts the account into
every primary and unique key that lacked it, on both backends, keeping every row."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from tests.support.harness import make_settings
from usagebook.store.engine import create_database
from usagebook.store.migrate import upgrade

# The rows of revision 0012: two accounts, each with a key, a hold, an endpoint subscribed to
# an event type, an event and its delivery.
_ROWS = [
    "INSERT INTO accounts (id, name, created_ms) VALUES ('acct_{n}', 'a', 0)",
    "INSERT INTO api_keys (id, account_id, key_type, description, secret_hash, created_ms) "
    "VALUES ('key_{n}', 'acct_{n}', 'INFERENCE', '', 'hash{n}', 0)",
    "INSERT INTO holds (id, account_id, api_key_id, currency, amount, created_ms, expires_ms, "
    "request_id) VALUES ('hold_{n}', 'acct_{n}', 'key_{n}', 'USD', 1, 0, 1, 'req')",
    "INSERT INTO webhook_endpoints (id, account_id, url, enabled, secret, created_ms) "
    "VALUES ('we_{n}', 'acct_{n}', 'http://x', true, 's', 0)",
    "INSERT INTO webhook_subscriptions (account_id, event_type, endpoint_id) "
    "VALUES ('acct_{n}', 'key.limit.reached', 'we_{n}')",
    "INSERT INTO alert_events (id, account_id, type, created_ms) "
    "VALUES ('evt_{n}', 'acct_{n}', 'key.limit.reached', 0)",
    "INSERT INTO webhook_deliveries (endpoint_id, event_id, status, attempts, created_ms) "
    "VALUES ('we_{n}', 'evt_{n}', 'pending', 0, 0)",
]
_CHANGED = ("api_keys", "holds", "alert_events", "webhook_endpoints", "webhook_deliveries",
            "credit_grants", "rate_limit_log")


def _keys(connection: Connection) -> dict[str, Any]:
    found = inspect(connection)
    return {table: (found.get_pk_constraint(table)["constrained_columns"],
                    sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
                    sorted((tuple(f["constrained_columns"]), tuple(f["referred_columns"]))
                           for f in found.get_foreign_keys(table)))
            for table in (*_CHANGED, "webhook_subscriptions")}


def test_deliveries_get_their_account_and_every_key_carries_it(fresh_url: str) -> None:
    settings = make_settings(fresh_url)
    upgrade(settings.database_url, "0012")

    async def store_raw() -> None:  # as rows stored before revision 0013 existed
        db = create_database(settings)
        async with db.write() as conn:
            for n in (1, 2):
                for row in _ROWS:
                    await conn.execute(text(row.format(n=n)))
        await db.dispose()

    asyncio.run(store_raw())
    upgrade(settings.database_url)

    async def after() -> tuple[Any, dict[str, Any]]:
        db = create_database(settings)
        async with db.read() as conn:
            deliveries = (await conn.execute(text(
                "SELECT endpoint_id, event_id, account_id FROM webhook_deliveries "
                "ORDER BY endpoint_id"))).all()
            keys = await conn.run_sync(_keys)
        await db.dispose()
        return deliveries, keys

    deliveries, keys = asyncio.run(after())
    assert [tuple(row) for row in deliveries] == [("we_1", "evt_1", "acct_1"),
                                                  ("we_2", "evt_2", "acct_2")]
    postgres = not fresh_url.startswith("sqlite")
    for table in _CHANGED:
        primary, uniques, _ = keys[table]
        generated = table in ("webhook_deliveries", "credit_grants", "rate_limit_log")
        # SQLite keeps its rowid where the database generates the id.
        assert primary == (["id", "account_id"] if postgres or not generated else ["id"]), table
        assert all("account_id" in unique for unique in uniques), (table, uniques)
    assert keys["api_keys"][1] == [("secret_hash", "account_id")]
    assert keys["holds"][1] == [("api_key_id", "request_id", "account_id")]
    assert keys["webhook_deliveries"][1] == [("endpoint_id", "event_id", "account_id")]
    assert (("event_id", "account_id"), ("id", "account_id")) in keys["webhook_deliveries"][2]
    assert (("endpoint_id", "account_id"), ("id", "account_id")) in keys["webhook_deliveries"][2]
    assert (("endpoint_id", "account_id"), ("id", "account_id")) in (
        keys["webhook_subscriptions"][2])

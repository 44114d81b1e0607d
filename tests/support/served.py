"""A usagebook process as the fault tests (and a few others) serve it: its environment, a
database migrated and seeded for it, and its log read back and checked."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable

from tests.support.harness import OPERATOR_TOKEN, Tenant
from tests.support.servers import UsagebookServer
from usagebook.ledger.accounts import create_account
from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.ledger.keys import KeyType, create_key
from usagebook.settings import Settings
from usagebook.store.engine import create_database
from usagebook.store.migrate import upgrade

SECRET_KEY = "fault-secret-" + secrets.token_hex(16)
ServerFactory = Callable[..., UsagebookServer]


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        "USAGEBOOK_DATABASE_URL": database_url,
        "USAGEBOOK_OPERATOR_TOKEN": OPERATOR_TOKEN,
        "USAGEBOOK_SECRET_KEY": SECRET_KEY,
        "USAGEBOOK_RATE_LIMIT_PER_MINUTE": "0",
        **extra,
    }


def seed_tenant(database_url: str) -> Tenant:
    """Migrate, load the demo SKU catalog, and make an account with both kinds of key."""
    settings = Settings.from_env({}, database_url=database_url, secret_key=SECRET_KEY)
    upgrade(settings.database_url)

    async def make() -> Tenant:
        database = create_database(settings)
        try:
            await upsert_catalog(database, DEMO_CATALOG)
            account = await create_account(database, "fault test")
            admin = await create_key(database, account.id, KeyType.ADMIN, "admin")
            inference = await create_key(database, account.id, KeyType.INFERENCE, "inference")
        finally:
            await database.dispose()
        return Tenant(account.id, admin.secret, inference.secret, admin.row.id, inference.row.id)

    return asyncio.run(make())


def assert_log_clean(server: UsagebookServer, *secrets_: str) -> list[str]:
    """The server's log lines, after checking that none holds a secret and none is plain text."""
    lines = server.log_path.read_text().splitlines()
    for line in lines:
        for secret in secrets_:
            assert secret not in line
        json.loads(line)  # every line is JSON
    return lines

"""What every API test reaches its backend through: a `Harness` (one backend's running app) and
the `Tenant`s it makes, the settings tests serve with, and a scratch PostgreSQL database.

The fixtures that build them per session live in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from fastapi.testclient import TestClient

from usagebook.ledger.accounts import create_account
from usagebook.ledger.keys import KeyType, create_key
from usagebook.settings import Settings
from usagebook.store.engine import Database

T = TypeVar("T")

POSTGRES_URL = os.environ.get("USAGEBOOK_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
# Settings refuse secrets and tokens shorter than 32 characters or made of placeholder words.
OPERATOR_TOKEN = "test-operator-token-" + secrets.token_hex(16)
TEST_SECRET = "test-secret-" + secrets.token_hex(16)


@dataclass
class Tenant:
    """An account made for one test, with an ADMIN and an INFERENCE key."""

    account_id: str
    admin_key: str
    inference_key: str
    admin_key_id: str
    inference_key_id: str

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}


@dataclass
class Harness:
    """One backend's running app, and ways to reach its domain from a test."""

    backend: str
    client: TestClient
    settings: Settings

    @property
    def database(self) -> Database:
        database: Database = self.client.app.state.database  # type: ignore[attr-defined]
        return database

    def call(self, work: Callable[[Database], Awaitable[T]]) -> T:
        """Run a domain coroutine on the app's own event loop and engine."""
        async def runner() -> T:
            return await work(self.database)

        assert self.client.portal is not None
        return self.client.portal.call(runner)

    def tenant(self, name: str = "test account") -> Tenant:
        async def make(db: Database) -> Tenant:
            account = await create_account(db, name)
            admin = await create_key(db, account.id, KeyType.ADMIN, "admin")
            inference = await create_key(db, account.id, KeyType.INFERENCE, "inference")
            return Tenant(account.id, admin.secret, inference.secret, admin.row.id,
                          inference.row.id)

        return self.call(make)

    def get(self, path: str, tenant: Tenant | None = None, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if tenant is not None:
            headers.setdefault("Authorization", f"Bearer {tenant.admin_key}")
        return self.client.get(path, headers=headers, **kwargs)


def create_postgres_database() -> tuple[str, Callable[[], None]]:
    name = f"usagebook_test_{os.getpid()}_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        try:
            conn = await asyncpg.connect(POSTGRES_URL, timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            message = f"PostgreSQL is required for the tests ({POSTGRES_URL}): {exc}"
            raise RuntimeError(message) from exc
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    return f"{base}/{name}", lambda: asyncio.run(admin(drop))


# Webhooks in tests: receivers listen on 127.0.0.1, retries come within a second, and each
# server looks for due deliveries every 50 ms (the defaults wait minutes).
TEST_WEBHOOKS: dict[str, Any] = {
    "webhook_allow_private": True,
    # Seconds, not minutes, but with room for a receiver started between two retries.
    "webhook_retry_schedule": (0.2, 0.2, 0.5, 1.0, 2.0),
    "webhook_poll_seconds": 0.05,
}


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "operator_token": OPERATOR_TOKEN,
        "secret_key": "test-secret-" + secrets.token_hex(16),
        "rate_limit_per_minute": 0,
        # One app serves every test of a session from one client address; the tests of the
        # per-address limit of failed authentications turn it on in apps of their own.
        "failed_auth_per_minute": 0,
    }
    values.update({**TEST_WEBHOOKS, **overrides})
    return Settings.from_env({}, database_url=database_url, **values)

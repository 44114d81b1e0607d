"""Fault tests run usagebook as a real uvicorn process against servers they may stop or kill:
one scratch PostgreSQL instance for the whole session (never the shared one on 5432) and, where
needed, a scratch Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import OPERATOR_TOKEN, Tenant
from tests.servers import ScratchPostgres, UsagebookServer
from usagebook.ledger.accounts import create_account
from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.ledger.keys import KeyType, create_key
from usagebook.settings import Settings
from usagebook.store.engine import create_database
from usagebook.store.migrate import upgrade

SECRET_KEY = "fault-secret-" + secrets.token_hex(16)
ServerFactory = Callable[..., UsagebookServer]


@pytest.fixture(scope="session")
def _scratch_cluster() -> Iterator[ScratchPostgres]:
    cluster = ScratchPostgres()
    yield cluster
    cluster.destroy()


@pytest.fixture
def scratch_pg(_scratch_cluster: ScratchPostgres) -> ScratchPostgres:
    """The session's scratch PostgreSQL, running (even if an earlier test failed while it was
    stopped)."""
    _scratch_cluster.ensure_running()
    return _scratch_cluster


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


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Starts usagebook servers for one test and stops whatever is still running at its end."""
    started: list[UsagebookServer] = []

    def start(database_url: str, **extra: str) -> UsagebookServer:
        server = UsagebookServer(server_env(database_url, **extra),
                                 tmp_path / f"server-{len(started)}.log")
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


def assert_log_clean(server: UsagebookServer, *secrets_: str) -> list[str]:
    """The server's log lines, after checking that none holds a secret and none is plain text."""
    import json

    lines = server.log_path.read_text().splitlines()
    for line in lines:
        for secret in secrets_:
            assert secret not in line
        json.loads(line)  # every line is JSON
    return lines

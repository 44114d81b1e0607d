"""Test harness: every API test runs once on SQLite and once on PostgreSQL.

Each backend gets a fresh database for the whole session (a scratch SQLite file; a new
PostgreSQL database created in the shared server and dropped afterwards, so concurrent test runs
never collide), migrated with Alembic, and one app served through Starlette's TestClient.
Tests isolate themselves by creating their own accounts: every answer is account-scoped.

PostgreSQL is required: USAGEBOOK_TEST_POSTGRES_URL (default postgresql://127.0.0.1:5432/test)
names the server; a test session fails loudly, never skips, when it cannot be reached.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from tests.support.harness import (
    TEST_SECRET,
    Harness,
    Tenant,
    create_postgres_database,
    make_settings,
)
from usagebook.app import create_app
from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.settings import Settings
from usagebook.store.migrate import upgrade

settings.register_profile(
    "default", deadline=None, max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "ci", deadline=None, max_examples=20,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "default")


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    sqlite_path = Path(tmp_path_factory.mktemp("sqlite")) / "usagebook.db"
    postgres_url, drop_postgres = create_postgres_database()
    urls = {"sqlite": f"sqlite:///{sqlite_path}", "postgresql": postgres_url}
    for url in urls.values():
        upgrade(Settings.from_env({}, database_url=url, secret_key=TEST_SECRET).database_url)
    yield urls
    drop_postgres()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def harness(request: pytest.FixtureRequest, database_urls: dict[str, str]) -> Iterator[Harness]:
    backend = request.param
    app_settings = make_settings(database_urls[backend])
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as client:
        found = Harness(backend, client, app_settings)
        found.call(lambda db: upsert_catalog(db, DEMO_CATALOG))
        yield found


@pytest.fixture
def tenant(harness: Harness) -> Tenant:
    return harness.tenant()

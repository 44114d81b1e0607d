"""A database that accepts connections but does not answer, or holds a lock, costs a request
a bounded time and answers 503 StandardError with Retry-After, never a hang: connect and
statement timeouts on both databases, and /readyz within a few seconds.

The stalled database is a TCP listener that accepts and never answers (tests.support.stall);
the lock is held by another session on this test run's own scratch database."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.harness import OPERATOR_TOKEN, TEST_SECRET, Harness, Tenant, make_settings
from tests.support.recording import EVENTS_PATH, OPERATOR, event
from tests.support.stall import BOUND_SECONDS, StalledListener, bounded
from usagebook.app import create_app


def assert_unavailable(answer: Any) -> None:
    assert answer.status_code == 503, answer.text
    assert set(answer.json()) == {"error"}
    assert int(answer.headers["retry-after"]) >= 1


@pytest.fixture
def stalled() -> Iterator[StalledListener]:
    listener = StalledListener()
    yield listener
    listener.close()


def client_for(database_url: str, **settings: Any) -> TestClient:
    app = create_app(make_settings(database_url, **settings))
    return TestClient(app, raise_server_exceptions=False)


def test_readyz_answers_503_within_seconds_on_a_stalled_database(
    stalled: StalledListener,
) -> None:
    """With the default timeouts: /readyz has its own short limit (2 s)."""
    with client_for(stalled.postgres_url) as client:
        assert_unavailable(bounded(lambda: client.get("/readyz"), seconds=5))
    assert stalled.accepted >= 1  # it did try to connect


def test_requests_on_a_stalled_database_are_503s(stalled: StalledListener, tenant: Tenant) -> None:
    with client_for(stalled.postgres_url, db_connect_timeout_seconds=1) as client:
        read = bounded(lambda: client.get("/api/v1/billing/usage", headers=tenant.admin))
        write = bounded(lambda: client.post(EVENTS_PATH, headers=OPERATOR,
                                            json={"events": [event("r", tenant.account_id)]}))
    for answer in (read, write):
        assert_unavailable(answer)


def test_the_cli_fails_in_one_line_on_a_stalled_database(stalled: StalledListener) -> None:
    env = {"USAGEBOOK_SECRET_KEY": TEST_SECRET, "USAGEBOOK_DB_CONNECT_TIMEOUT_SECONDS": "1",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", "from usagebook.cli import main; main()", "migrate",
         "--database-url", stalled.postgres_url],
        env=env, capture_output=True, text=True, timeout=BOUND_SECONDS)
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("FAILED: "), done.stderr





# PostgreSQL's lock; SQLite's is tested below.
@pytest.mark.parametrize("harness", ["postgresql"], indirect=True)
def test_a_postgresql_lock_held_elsewhere_is_a_503_not_a_wait(
    harness: Harness, tenant: Tenant, database_urls: dict[str, str],
    pg_lock: Callable[[str], None],
) -> None:
    with client_for(database_urls["postgresql"], db_statement_timeout_seconds=1) as client:
        reads = ["/api/v1/billing/usage", "/api/v1/billing/usage-history",
                 "/api/v1/billing/balance"]
        for path in reads:  # warm: the key is known, the pool has connections
            assert client.get(path, headers=tenant.admin).status_code == 200, path
        pg_lock("*")
        # Analytics (not cached for this period) too: its own 504 budget is longer.
        for path in [*reads, "/api/v1/billing/usage-analytics?lookback=4d"]:
            assert_unavailable(bounded(lambda path=path: client.get(path, headers=tenant.admin)))
        assert_unavailable(bounded(lambda: client.post(
            EVENTS_PATH, headers=OPERATOR, json={"events": [event("l", tenant.account_id)]})))
        authorize = {"apiKeyId": tenant.admin_key_id, "estimate": {"amount": "0.01"}}
        assert_unavailable(bounded(lambda: client.post(
            "/api/v1/usage/authorize", headers=OPERATOR, json=authorize)))
        assert client.get("/readyz").status_code == 200  # the server itself still answers


# SQLite's lock; PostgreSQL's is tested above.
@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_a_sqlite_lock_held_elsewhere_is_a_503_and_records_nothing(
    harness: Harness, tenant: Tenant, database_urls: dict[str, str],
) -> None:
    path = database_urls["sqlite"].removeprefix("sqlite:///")
    with client_for(database_urls["sqlite"], db_statement_timeout_seconds=0.5) as client:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")
            assert_unavailable(bounded(lambda: client.post(
                EVENTS_PATH, headers=OPERATOR, json={"events": [event("s", tenant.account_id)]})))
        finally:
            other.execute("ROLLBACK")
            other.close()
        total = client.get("/api/v1/billing/usage", headers=tenant.admin).json()
        assert total["pagination"]["total"] == 0
        recorded = client.post(EVENTS_PATH, headers=OPERATOR,
                               json={"events": [event("s", tenant.account_id)]})
        assert recorded.status_code == 200


def test_timeouts_are_settings(tmp_path: Path) -> None:
    from usagebook.settings import Settings, SettingsError

    env = {"USAGEBOOK_DB_CONNECT_TIMEOUT_SECONDS": "2.5",
           "USAGEBOOK_DB_STATEMENT_TIMEOUT_SECONDS": "12", "USAGEBOOK_SECRET_KEY": TEST_SECRET,
           "USAGEBOOK_DATABASE_URL": f"sqlite:///{tmp_path}/t.db"}
    settings = Settings.from_env(env)
    assert (settings.db_connect_timeout_seconds, settings.db_statement_timeout_seconds) == (2.5, 12)
    assert settings.readiness_timeout_seconds == 2
    for bad in ("0", "-1", "nan", "soon"):
        with pytest.raises(SettingsError):
            Settings.from_env({**env, "USAGEBOOK_DB_STATEMENT_TIMEOUT_SECONDS": bad})
    assert OPERATOR_TOKEN

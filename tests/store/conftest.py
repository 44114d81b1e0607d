"""Fresh databases for tests that migrate from an older revision or make schema changes of
their own (which the shared test database must not see)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.harness import create_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database's plain URL (sqlite:/// or postgresql://), dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    url, drop = create_postgres_database()
    yield url
    drop()


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """An empty PostgreSQL database's plain URL, dropped afterwards."""
    url, drop = create_postgres_database()
    yield url
    drop()

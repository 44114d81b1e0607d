"""Fault tests run usagebook as a real uvicorn process against servers they may stop or kill:
one scratch PostgreSQL instance for the whole session (never the shared one on 5432) and, where
needed, a scratch Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.served import ServerFactory, server_env
from tests.support.servers import ScratchPostgres, UsagebookServer


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

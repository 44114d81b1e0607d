"""Gateway tests run everything for real: the fake OpenAI-compatible upstream (in a thread),
a `usagebook serve` as the ledger and `usagebook gateway` as subprocesses, and the official
`openai` client as the customer. The ledger's database is SQLite for the session's shared
ledger, PostgreSQL where a test says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.asgi_peer import ThreadedServer
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import (
    UPSTREAM_KEY,
    GatewayFactory,
    Ledger,
    open_clients,
    start_ledger,
)
from tests.support.harness import OPERATOR_TOKEN, POSTGRES_URL, create_postgres_database
from tests.support.servers import GatewayServer


@pytest.fixture(scope="session")
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream()
    server = ThreadedServer(fake).start()
    yield fake, server.base_url
    server.stop()


@pytest.fixture(scope="session")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    where = tmp_path_factory.mktemp("ledger")
    started = start_ledger(f"sqlite:///{where / 'ledger.db'}", where / "ledger.log")
    yield started
    started.server.stop()


@pytest.fixture
def postgres_ledger(tmp_path: Path) -> Iterator[Ledger]:
    url, drop = create_postgres_database()
    assert url.startswith(POSTGRES_URL.rsplit("/", 1)[0])
    started = start_ledger(url, tmp_path / "pg-ledger.log")
    yield started
    started.server.stop()
    drop()


@pytest.fixture(scope="session")
def gateway(ledger: Ledger, upstream: tuple[FakeUpstream, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    """The session's gateway in front of the session's ledger, for tests that need no
    particular gateway of their own."""
    where = tmp_path_factory.mktemp("gateway")
    server = GatewayServer(
        {"USAGEBOOK_OPERATOR_TOKEN": OPERATOR_TOKEN, "USAGEBOOK_UPSTREAM_API_KEY": UPSTREAM_KEY},
        where / "gateway.log",
        ("--upstream", upstream[1], "--ledger", ledger.url, "--queue", str(where / "q.db")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def start_gateway(tmp_path: Path, upstream: tuple[FakeUpstream, str]) -> Iterator[GatewayFactory]:
    """Starts `usagebook gateway` processes; each is stopped at the test's end."""
    started: list[GatewayServer] = []

    def start(ledger_url: str, *options: str, queue: Path | None = None,
              operator_token: str = OPERATOR_TOKEN, upstream_url: str | None = None,
              **env: str) -> GatewayServer:
        queue = queue or tmp_path / "gateway-queue.db"
        gateway = GatewayServer(
            {"USAGEBOOK_OPERATOR_TOKEN": operator_token,
             "USAGEBOOK_UPSTREAM_API_KEY": UPSTREAM_KEY, **env},
            tmp_path / f"gateway-{len(started)}.log",
            ("--upstream", upstream_url or upstream[1], "--ledger", ledger_url, "--queue",
             str(queue), *options))
        started.append(gateway)
        gateway.start()
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while open_clients:
        open_clients.pop().close()

"""Gateway tests run everything for real: the fake OpenAI-compatible upstream (in a thread),
a `usagebook serve` as the ledger and `usagebook gateway` as subprocesses, and the official
`openai` client as the customer. The ledger's database is SQLite for the session's shared
ledger, PostgreSQL where a test says so."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.fake_upstream import FakeUpstream, ThreadedServer
from tests.support.harness import OPERATOR_TOKEN, POSTGRES_URL, create_postgres_database
from tests.support.servers import GatewayServer, UsagebookServer
from usagebook.ledger import balances
from usagebook.ledger.accounts import create_account
from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.ledger.key_usage import LimitPeriod
from usagebook.ledger.keys import KeyLimits, KeyOptions, KeyType, create_key
from usagebook.settings import Settings
from usagebook.store.engine import create_database
from usagebook.store.migrate import upgrade

SECRET_KEY = "gateway-test-secret-0123456789abcdef"
UPSTREAM_KEY = "upstream-credential-of-the-provider"
MODEL = "llama-3.3-70b"  # 0.7 USD per million input tokens, 2.8 per million output
CACHED_MODEL = "qwen3-235b"  # also prices cache reads


@dataclass(frozen=True)
class Customer:
    account_id: str
    key: str  # INFERENCE secret, used through the gateway
    key_id: str
    admin_key: str  # reads the account's ledger back


@dataclass
class Ledger:
    server: UsagebookServer
    database_url: str

    @property
    def url(self) -> str:
        return self.server.base_url

    def customer(self, credit: str = "100", usd_limit: str | None = None) -> Customer:
        return asyncio.run(_make_customer(self.database_url, credit, usd_limit))

    def entries(self, customer: Customer) -> list[dict[str, Any]]:
        """Every entry of the customer's account, read through the billing API."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = httpx.get(f"{self.url}/api/v1/billing/usage", params={
                "limit": 500, "page": page, "sortOrder": "asc"},
                headers={"Authorization": f"Bearer {customer.admin_key}"}, timeout=30)
            assert answer.status_code == 200, answer.text
            found += answer.json()["data"]
            if page >= answer.json()["pagination"]["totalPages"]:
                return found
            page += 1

    def wait_for_entries(self, customer: Customer, count: int,
                         seconds: float = 30) -> list[dict[str, Any]]:
        """The account's entries once there are `count` of them (the gateway records after
        answering); fails with what there is after `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            entries = self.entries(customer)
            if len(entries) >= count or time.monotonic() > deadline:
                return entries
            time.sleep(0.1)


async def _make_customer(database_url: str, credit: str, usd_limit: str | None) -> Customer:
    settings = Settings.from_env({}, database_url=database_url, secret_key=SECRET_KEY)
    database = create_database(settings)
    try:
        account = await create_account(database, "gateway customer")
        limits = KeyLimits(usd=Decimal(usd_limit)) if usd_limit is not None else KeyLimits()
        key = await create_key(database, account.id, KeyType.INFERENCE, options=KeyOptions(
            "through the gateway", limits=limits, limit_period=LimitPeriod.LIFETIME))
        admin = await create_key(database, account.id, KeyType.ADMIN, "admin")
        if Decimal(credit) != 0:
            await balances.grant_credit(database, account.id, "USD", credit, "test grant")
    finally:
        await database.dispose()
    return Customer(account.id, key.secret, key.row.id, admin.secret)


def start_ledger(database_url: str, log_path: Path, **env: str) -> Ledger:
    settings = Settings.from_env({}, database_url=database_url, secret_key=SECRET_KEY)
    upgrade(settings.database_url)

    async def catalog() -> None:
        database = create_database(settings)
        try:
            await upsert_catalog(database, DEMO_CATALOG)
        finally:
            await database.dispose()

    asyncio.run(catalog())
    server = UsagebookServer({
        "USAGEBOOK_DATABASE_URL": database_url, "USAGEBOOK_OPERATOR_TOKEN": OPERATOR_TOKEN,
        "USAGEBOOK_SECRET_KEY": SECRET_KEY, "USAGEBOOK_RATE_LIMIT_PER_MINUTE": "0", **env},
        log_path)
    server.start()
    return Ledger(server, database_url)


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


GatewayFactory = Callable[..., GatewayServer]


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


_open_clients: list[openai.OpenAI] = []


def customer_client(gateway: GatewayServer, customer: Customer) -> openai.OpenAI:
    """The customer's official client, pointed at the gateway (no retries: one call, one
    request, so that the ledger can be reconciled call by call); closed at the test's end."""
    client = openai.OpenAI(api_key=customer.key, base_url=gateway.base_url + "/v1",
                           max_retries=0, timeout=30)
    _open_clients.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _open_clients:
        _open_clients.pop().close()

"""What the gateway suites share: a ledger (`usagebook serve`) and its customers, the
customer's official `openai` client, and reconciling the ledger with what the fake upstream
really did."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.support.fake_upstream import FakeUpstream, Served
from tests.support.harness import OPERATOR_TOKEN
from tests.support.servers import GatewayServer, UsagebookServer
from usagebook.gateway.usage import COUNTED_NOTE
from usagebook.ledger import balances
from usagebook.ledger.accounts import create_account
from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.ledger.key_usage import LimitPeriod
from usagebook.ledger.keys import KeyLimits, KeyOptions, KeyType, create_key
from usagebook.settings import Settings
from usagebook.store.engine import create_database
from usagebook.store.migrate import upgrade

MILLION = Decimal(1_000_000)


def by_request(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        grouped.setdefault(entry["inferenceDetails"]["requestId"], []).append(entry)
    return grouped


def upstream_of(entries: list[dict[str, Any]], fake: FakeUpstream) -> Served:
    """The upstream answer a request's entries name in their notes."""
    notes = {entry["notes"] for entry in entries}
    assert len(notes) == 1, notes
    upstream_id = next(iter(notes)).split(";")[0].removeprefix("upstream id ")
    return fake.served[upstream_id]


def tokens_by_sku(entries: list[dict[str, Any]]) -> dict[str, int]:
    """Tokens charged per SKU kind (input, output, cache-read), from the entries' units."""
    found: dict[str, int] = {}
    for entry in entries:
        kind = entry["sku"].rsplit("-", 2)[-2] if "cache-read" not in entry["sku"] else "cache"
        tokens = Decimal(str(entry["units"])) * MILLION
        assert tokens == int(tokens)
        found[kind] = found.get(kind, 0) + int(tokens)
    return found


def assert_billed_as_reported(entries: list[dict[str, Any]], served: Served) -> None:
    """The entries of one request charge exactly the tokens the upstream reported."""
    tokens = tokens_by_sku(entries)
    assert tokens.get("input", 0) + tokens.get("cache", 0) == served.prompt_tokens
    assert tokens.get("cache", 0) == served.cached_tokens
    assert tokens.get("output", 0) == served.completion_tokens
    for entry in entries:
        details = entry["inferenceDetails"]
        assert details["promptTokens"] == served.prompt_tokens
        assert COUNTED_NOTE not in entry["notes"]
        if served.path != "/v1/embeddings":
            assert details["completionTokens"] == served.completion_tokens


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


GatewayFactory = Callable[..., GatewayServer]


open_clients: list[openai.OpenAI] = []


def customer_client(gateway: GatewayServer, customer: Customer) -> openai.OpenAI:
    """The customer's official client, pointed at the gateway (no retries: one call, one
    request, so that the ledger can be reconciled call by call); closed at the test's end."""
    client = openai.OpenAI(api_key=customer.key, base_url=gateway.base_url + "/v1",
                           max_retries=0, timeout=30)
    open_clients.append(client)
    return client

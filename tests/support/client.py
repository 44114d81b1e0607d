"""The client suites' real ledger (a `usagebook serve` on SQLite with a demo account, also
used by the integrations' suites), events billed to it, and what it stored."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.servers import UsagebookServer
from usagebook.cli import app
from usagebook.client import Event, RetryPolicy, UsagebookClient

FAST_RETRY = RetryPolicy(attempts=3, base_seconds=0.01, max_seconds=0.05)
SKU = "llama-3.3-70b-llm-input-mtoken"


@dataclass
class Ledger:
    url: str
    account_id: str
    admin_key: str
    inference_key: str
    inference_key_id: str
    operator_token: str
    database_url: str

    def client(self, url: str | None = None, **options: object) -> UsagebookClient:
        return UsagebookClient(url or self.url, api_key=self.admin_key,
                               operator_token=self.operator_token, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    root = tmp_path_factory.mktemp("client-ledger")
    database_url = f"sqlite:///{root / 'ledger.db'}"
    made = CliRunner().invoke(app, ["demo", "--entries", "0", "--json", "--database-url",
                                    database_url])
    assert made.exit_code == 0, made.output
    demo = json.loads(made.stdout)
    env = {"USAGEBOOK_DATABASE_URL": database_url,
           "USAGEBOOK_OPERATOR_TOKEN": demo["operatorToken"]}
    server = UsagebookServer(env=env, log_path=Path(root / "serve.log"))
    server.start()
    try:
        yield Ledger(server.base_url, demo["accountId"], demo["adminKey"], demo["inferenceKey"],
                     demo["inferenceKeyId"], demo["operatorToken"], database_url)
    finally:
        server.stop()


_counter = itertools.count()


def events(ledger: Ledger, count: int, prefix: str | None = None) -> list[Event]:
    """`count` new events billed to the demo's INFERENCE key, with request ids of their own."""
    tag = prefix or f"t{uuid.uuid4().hex[:10]}"
    return [Event(request_id=f"{tag}-{next(_counter)}", sku=SKU, units="0.000123",
                  api_key_id=ledger.inference_key_id, prompt_tokens=123) for _ in range(count)]


def stored_request_ids(ledger: Ledger, prefix: str) -> list[str]:
    """Request ids in the ledger starting with `prefix`, each as often as it is stored."""
    with ledger.client() as client:
        return [e.request_id for e in client.history(page_size=1000)
                if e.request_id and e.request_id.startswith(prefix)]

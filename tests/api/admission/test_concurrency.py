"""Hundreds of concurrent authorize calls through a real `usagebook serve --workers 2` for a key
close to its limit, with recordings settling holds at the same time, on both databases.

Checked: granted holds plus recorded spend never pass the limit; with equal estimates exactly
as many holds are granted as fit (no lost update, and no refusal while room is left); every
402 carries Venice's text exactly; holds are rows, so a restarted server still counts them.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.support.admission import AUTHORIZE_PATH, Customer, key_limit_text
from tests.support.harness import OPERATOR_TOKEN, Harness
from tests.support.recording import EVENTS_PATH, IMAGE, record_ok
from tests.support.servers import UsagebookServer
from usagebook.ledger.key_usage import current_period_usage
from usagebook.ledger.keys import get_key
from usagebook.store import holds as hold_store
from usagebook.store.engine import Database
from usagebook.timeutil import now_ms

pytestmark = pytest.mark.slow  # a real server: seconds per backend

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
CALLS = 300
CENT = Decimal("0.01")  # the image SKU's price per unit


@pytest.fixture(scope="module")
def server(harness: Harness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UsagebookServer]:
    """One server per backend for the module (starting one takes seconds on a busy machine)."""
    env = {
        "USAGEBOOK_DATABASE_URL": harness.settings.database_url,
        "USAGEBOOK_OPERATOR_TOKEN": OPERATOR_TOKEN,
        "USAGEBOOK_SECRET_KEY": harness.settings.secret_key or "",
        "USAGEBOOK_RATE_LIMIT_PER_MINUTE": "0",
    }
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    started = UsagebookServer(env, log, args=("--workers", "2"))
    started.start()
    yield started
    started.stop()


def _spend_and_live_holds(harness: Harness, customer: Customer) -> tuple[Decimal, Decimal]:
    async def work(db: Database) -> tuple[Decimal, Decimal]:
        key = await get_key(db, customer.key_id)
        now = now_ms()
        spend = await current_period_usage(db, key, now)
        async with db.read() as conn:
            held = await hold_store.live_holds(conn, customer.account_id, customer.key_id, now)
        return spend.usd, sum(held.key.values(), Decimal(0))

    return harness.call(work)


async def _authorize_all(base_url: str, key_id: str, amounts: list[Decimal],
                         settle: bool) -> list[httpx.Response]:
    """Every call at once (each settling its hold by recording, when `settle`)."""
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=base_url, headers=OPERATOR, limits=limits,
                                 timeout=60) as client:
        async def one(index: int, amount: Decimal) -> httpx.Response:
            body = {"apiKeyId": key_id, "estimate": {"amount": str(amount)}}
            answer = await client.post(AUTHORIZE_PATH, json=body)
            if settle and answer.status_code == 200:
                await _settle(client, key_id, index, answer.json())
            return answer

        return list(await asyncio.gather(*(one(i, a) for i, a in enumerate(amounts))))


async def _settle(client: httpx.AsyncClient, key_id: str, index: int, hold: dict[str, Any]) -> None:
    # The real cost is at most the estimate: some calls cost less than they held.
    units = int(Decimal(str(hold["amount"])) / CENT) - index % 2
    if units <= 0:
        return
    event = {"requestId": f"settle-{index}", "sku": IMAGE, "units": str(units),
             "apiKeyId": key_id, "holdId": hold["holdId"]}
    answer = await client.post(EVENTS_PATH, json={"events": [event]})
    assert answer.status_code == 200, answer.text


def _check_refusals(answers: list[httpx.Response]) -> list[httpx.Response]:
    granted = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    for answer in refused:
        assert answer.status_code == 402, answer.text
        assert answer.json() == {"error": key_limit_text("USD")}
        assert int(answer.headers["retry-after"]) >= 1
    return granted


def test_equal_estimates_get_exactly_the_room_left(
    harness: Harness, server: UsagebookServer
) -> None:
    customer = Customer(harness, usd="1", credit="50")
    record_ok(harness, [{"requestId": "before", "sku": IMAGE, "units": "50",
                         "apiKeyId": customer.key_id}])  # 0.50 of the 1.00 spent already
    answers = asyncio.run(_authorize_all(server.base_url, customer.key_id, [CENT] * CALLS,
                                         settle=False))
    granted = _check_refusals(answers)
    assert len(granted) == 50
    spend, held = _spend_and_live_holds(harness, customer)
    assert (spend, held) == (Decimal("0.5"), Decimal("0.5"))


def test_holds_and_spend_never_pass_the_limit_while_settling(
    harness: Harness, server: UsagebookServer
) -> None:
    customer = Customer(harness, usd="2", credit="50")
    record_ok(harness, [{"requestId": "before", "sku": IMAGE, "units": "120",
                         "apiKeyId": customer.key_id}])  # 1.20 of the 2.00 spent already
    rng = random.Random(13)
    amounts = [CENT * rng.choice((1, 2, 3, 5, 8)) for _ in range(CALLS)]
    answers = asyncio.run(_authorize_all(server.base_url, customer.key_id, amounts, settle=True))
    granted = _check_refusals(answers)
    assert granted and len(granted) < CALLS
    spend, held = _spend_and_live_holds(harness, customer)
    assert spend + held <= Decimal("2")
    # Each settled hold gave back what its call did not cost, and later calls took that room:
    # more was granted than the 0.80 left at the start.
    assert sum(Decimal(str(a.json()["amount"])) for a in granted) > Decimal("0.8")


def test_holds_survive_a_restart(harness: Harness, server: UsagebookServer) -> None:
    """Last in the module: it restarts the module's server."""
    customer = Customer(harness, usd="1", credit="50")
    body = {"apiKeyId": customer.key_id, "estimate": {"amount": "0.6"}, "holdSeconds": 3600}
    first = httpx.post(server.base_url + AUTHORIZE_PATH, headers=OPERATOR, json=body, timeout=30)
    assert first.status_code == 200, first.text
    server.stop()
    server.start()
    again = httpx.post(server.base_url + AUTHORIZE_PATH, headers=OPERATOR, json=body, timeout=30)
    assert again.status_code == 402
    assert again.json() == {"error": key_limit_text("USD")}

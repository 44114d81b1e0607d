"""A request that records nothing releases its hold: the customer's limit is whole again as soon
as the failed request is answered (not when the hold expires, minutes later), for each way the
real upstream fails: an error status, no connection, silence past the timeout, a customer gone
before any token. A release the ledger cannot take at once waits in the durable queue."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.asgi_peer import ThreadedServer
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import MODEL, Customer, GatewayFactory, Ledger, customer_client
from tests.support.harness import OPERATOR_TOKEN
from tests.support.ledger_front import LedgerFront
from tests.support.servers import GatewayServer, free_port
from usagebook.gateway.ledger_client import LedgerClient
from usagebook.gateway.queue import UsageQueue
from usagebook.gateway.records import UsageRecord
from usagebook.gateway.sender import UsageSender
from usagebook.gateway.usage import Kind, Usage

MESSAGES = [{"role": "user", "content": "Tell me a long story."}]
# The gateway holds about 0.0115 USD a request (4,096 output tokens at 2.8 USD a million): one
# hold fits in this limit, two do not.
LIMIT = "0.015"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def limit_is_whole(ledger: Ledger, customer: Customer) -> bool:
    """Whether the key's whole limit can be held now (no hold of the gateway's is live); the
    probe's own hold is released at once."""
    answer = httpx.post(f"{ledger.url}/api/v1/usage/authorize", headers=OPERATOR, json={
        "apiKeyId": customer.key_id, "estimate": {"amount": LIMIT}}, timeout=30)
    if answer.status_code == 402:
        return False
    assert answer.status_code == 200, answer.text
    released = httpx.post(f"{ledger.url}/api/v1/usage/authorize/{answer.json()['holdId']}"
                          "/release", headers=OPERATOR, timeout=30)
    assert released.json()["released"] is True
    return True


def wait_until_whole(ledger: Ledger, customer: Customer, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not limit_is_whole(ledger, customer):
        assert time.monotonic() < deadline, "the hold was not released"
        time.sleep(0.1)


def failing_call(gateway: GatewayServer, customer: Customer, *, stream: bool,
                 fake: dict[str, Any]) -> openai.APIError:
    client = customer_client(gateway, customer)
    with pytest.raises(openai.APIError) as failed:
        if stream:
            for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                    extra_body={"fake": fake}):
                pass
        else:
            client.chat.completions.create(model=MODEL, messages=MESSAGES,
                                           extra_body={"fake": fake})
    return failed.value


@pytest.mark.parametrize(("status", "stream"), [(500, False), (503, True), (400, False)])
def test_an_upstream_error_status_frees_the_limit_before_it_is_answered(
        ledger: Ledger, gateway: GatewayServer, status: int, stream: bool) -> None:
    customer = ledger.customer(usd_limit=LIMIT)
    failed = failing_call(gateway, customer, stream=stream,
                          fake={"mode": "fail", "status": status})
    assert isinstance(failed, openai.APIStatusError) and failed.status_code == status
    assert limit_is_whole(ledger, customer)  # at once: no waiting, no polling
    customer_client(gateway, customer).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert len(ledger.wait_for_entries(customer, 2)) == 2  # only the request that was served


def test_an_upstream_that_cannot_be_reached_frees_the_limit(
        ledger: Ledger, start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(ledger.url, upstream_url=f"http://127.0.0.1:{free_port()}")
    customer = ledger.customer(usd_limit=LIMIT)
    for stream in (False, True):
        failed = failing_call(gateway, customer, stream=stream, fake={})
        assert isinstance(failed, openai.APIStatusError) and failed.status_code == 502
        assert failed.response.json() == {"error": "Upstream is unavailable"}
        assert limit_is_whole(ledger, customer)
    assert ledger.entries(customer) == []


def test_an_upstream_silent_past_the_timeout_frees_the_limit(
        ledger: Ledger, start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(ledger.url, USAGEBOOK_UPSTREAM_TIMEOUT_SECONDS="0.5")
    customer = ledger.customer(usd_limit=LIMIT)
    for stream in (False, True):
        failed = failing_call(gateway, customer, stream=stream, fake={"wait": 3})
        assert isinstance(failed, openai.APIStatusError) and failed.status_code == 502
        assert limit_is_whole(ledger, customer)
    assert ledger.entries(customer) == []


def test_a_customer_gone_before_any_token_frees_the_limit(
        ledger: Ledger, gateway: GatewayServer, upstream: tuple[FakeUpstream, str]) -> None:
    customer = ledger.customer(usd_limit=LIMIT)
    client = customer_client(gateway, customer)
    with client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=MESSAGES, stream=True,
            extra_body={"fake": {"chunks": 5, "delay": 3}}) as response:
        first = next(iter(response.parse()))  # the role chunk: no content yet
        assert not first.choices[0].delta.content
    # Leaving closed the connection; the gateway notices and cancels the upstream.
    wait_until_whole(ledger, customer, seconds=2.5)  # before the upstream's first token
    served = upstream[0].served[first.id]
    assert served.chunks_sent == 0
    time.sleep(0.5)
    assert ledger.entries(customer) == []  # and nothing is charged


def test_a_release_the_ledger_cannot_take_waits_in_the_queue(
        ledger: Ledger, start_gateway: GatewayFactory, tmp_path: Path) -> None:
    front = LedgerFront(ledger.url)
    hop = ThreadedServer(front).start()
    try:
        queue = tmp_path / "releases.db"
        gateway = start_gateway(hop.base_url, queue=queue)
        customer = ledger.customer(usd_limit=LIMIT)
        front.refuse_releases = True
        failing_call(gateway, customer, stream=False, fake={"mode": "fail", "status": 500})
        assert front.releases_refused >= 1 and not limit_is_whole(ledger, customer)
        with sqlite3.connect(queue) as conn:
            assert conn.execute("SELECT count(*) FROM releases").fetchone() == (1,)
        front.refuse_releases = False  # the ledger is back: the sender releases it
        wait_until_whole(ledger, customer)
        deadline = time.monotonic() + 10
        while True:  # and it leaves the queue
            with sqlite3.connect(queue) as conn:
                if conn.execute("SELECT count(*) FROM releases").fetchone() == (0,):
                    break
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        hop.stop()


def test_a_record_of_zero_tokens_releases_its_hold(ledger: Ledger, tmp_path: Path) -> None:
    customer = ledger.customer(usd_limit=LIMIT)
    hold = httpx.post(f"{ledger.url}/api/v1/usage/authorize", headers=OPERATOR, json={
        "apiKeyId": customer.key_id, "estimate": {"amount": "0.01"}}, timeout=30).json()
    record = UsageRecord.of(Usage(0, 0), request_id="gw_zero", model=MODEL, kind=Kind.CHAT,
                            api_key_id=customer.key_id, hold_id=hold["holdId"], execution_ms=1,
                            timestamp="2026-01-01T00:00:00.000Z", upstream_id=None)

    async def scenario() -> tuple[int | None, int | None]:
        queue = UsageQueue(tmp_path / "zero.db")
        await queue.open()
        client = LedgerClient(ledger.url, OPERATOR_TOKEN, timeout=10)
        try:
            await queue.put(record)
            sender = UsageSender(queue, client)
            return await sender.send_batch(), await sender.send_releases()
        finally:
            await client.aclose()
            await queue.close()

    assert not limit_is_whole(ledger, customer)
    assert asyncio.run(scenario()) == (1, 1)
    assert limit_is_whole(ledger, customer)
    assert ledger.entries(customer) == []

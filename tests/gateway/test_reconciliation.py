"""The issue's check in one run: streaming and plain requests through several keys at once
(one near its spending limit), some streams abandoned, then every token the upstream reported
or delivered is reconciled with the ledger, and every ledger entry with an upstream answer."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import openai

from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import (
    MODEL,
    Customer,
    Ledger,
    assert_billed_as_reported,
    by_request,
    customer_client,
    upstream_of,
)
from tests.support.servers import GatewayServer
from usagebook.gateway.usage import COUNTED_NOTE

LIMIT_TEXT = ("API key USD spend limit exceeded. Your account may still have USD balance, but "
              "this API key has reached its configured USD spending limit.")


def test_every_upstream_token_is_in_the_ledger_once(
        ledger: Ledger, gateway: GatewayServer,
        upstream: tuple[FakeUpstream, str]) -> None:
    fake = upstream[0]
    customers = [ledger.customer() for _ in range(3)] + [ledger.customer(usd_limit="0.0004")]
    before = set(fake.served)
    outcomes: Counter[str] = Counter()
    answered: dict[str, str] = {}  # gateway request id -> how it was asked

    def call(n: int) -> None:
        customer: Customer = customers[n % 4]
        client = customer_client(gateway, customer)
        messages = [{"role": "user", "content": f"request {n} " + "x" * (n % 50)}]
        fake_options = {"chunks": 1 + n % 6}
        try:
            if n % 3 == 0:
                raw = client.chat.completions.with_raw_response.create(
                    model=MODEL, messages=messages, max_tokens=64,
                    extra_body={"fake": fake_options})
                raw.parse()
                answered[raw.headers["x-usagebook-request-id"]] = "plain"
                return
            leave = n % 7 == 0
            options = {**fake_options, "chunks": 60, "delay": 0.01} if leave else fake_options
            with client.chat.completions.with_streaming_response.create(
                    model=MODEL, messages=messages, max_tokens=64, stream=True,
                    extra_body={"fake": options}) as response:
                request_id = response.headers["x-usagebook-request-id"]
                for i, _ in enumerate(response.parse()):
                    if leave and i == 3:
                        break
            answered[request_id] = "left" if leave else "stream"
        except openai.APIStatusError as exc:
            assert customer is customers[3] and exc.status_code == 402, (
                n, exc.status_code, exc.response.text)
            assert exc.response.json() == {"error": LIMIT_TEXT}
            outcomes["limit"] += 1

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(call, range(120)))

    assert outcomes["limit"] > 0  # the key near its limit met it
    expected = 2 * len(answered)  # input and output entries of each answered request
    entries: dict[str, list[dict[str, object]]] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        entries = {}
        for customer in customers:
            entries.update(by_request(ledger.entries(customer)))
        if sum(len(v) for v in entries.values()) >= expected:
            break
        time.sleep(0.2)
    assert sorted(entries) == sorted(answered)  # nothing billed that was not served, and back
    billed_upstream_ids = set()
    for request_id, how in answered.items():
        mine = entries[request_id]
        served = upstream_of(mine, fake)  # type: ignore[arg-type]
        billed_upstream_ids.add(served.id)
        if how == "left":
            (output,) = {e["inferenceDetails"]["completionTokens"] for e in mine}  # type: ignore[index]
            assert 1 <= output <= served.chunks_sent
            assert all(COUNTED_NOTE in str(e["notes"]) for e in mine)
        else:
            assert_billed_as_reported(mine, served)  # type: ignore[arg-type]
    assert billed_upstream_ids == set(fake.served) - before  # every upstream answer billed once
    limited = ledger.entries(customers[3])
    assert sum(-Decimal(str(e["amount"])) for e in limited) <= Decimal("0.0004")

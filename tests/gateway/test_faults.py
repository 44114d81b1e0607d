"""The gateway when things break: the customer leaves mid-stream, the ledger is unreachable or
refuses the gateway, and the gateway itself is killed with SIGKILL."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.asgi_peer import ThreadedServer
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import (
    MODEL,
    GatewayFactory,
    Ledger,
    assert_billed_as_reported,
    by_request,
    customer_client,
    start_ledger,
    upstream_of,
)
from tests.support.ledger_front import LedgerFront
from tests.support.servers import GatewayServer, free_port
from usagebook.gateway.usage import COUNTED_NOTE

MESSAGES = [{"role": "user", "content": "Tell me a long story."}]
UNAVAILABLE = {"error": "Billing is unavailable"}


def wait_until(check: object, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_customer_who_leaves_mid_stream_pays_for_what_was_delivered(
        ledger: Ledger, gateway: GatewayServer,
        upstream: tuple[FakeUpstream, str]) -> None:
    fake = upstream[0]
    customer = ledger.customer()
    client = customer_client(gateway, customer)
    with client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=MESSAGES, stream=True,
            extra_body={"fake": {"chunks": 400, "delay": 0.02}}) as response:
        request_id = response.headers["x-usagebook-request-id"]
        received = 0
        for chunk in response.parse():
            received += bool(chunk.choices and chunk.choices[0].delta.content)
            if received == 5:
                break  # leaving the block closes the connection mid-stream
    entries = by_request(ledger.wait_for_entries(customer, 2))[request_id]
    served = upstream_of(entries, fake)
    wait_until(lambda: served.cancelled)  # the gateway cancelled the upstream's work
    assert served.chunks_sent < 400
    charged = {e["inferenceDetails"]["completionTokens"] for e in entries}
    (output,) = charged
    assert received <= output <= served.chunks_sent  # what was handed on, one token a chunk
    assert all(COUNTED_NOTE in e["notes"] for e in entries)
    time.sleep(0.5)  # nothing else arrives later for that request: recorded once
    assert len(by_request(ledger.entries(customer))[request_id]) == 2


def test_no_ledger_means_no_service_unless_fail_open(
        tmp_path: Path, start_gateway: GatewayFactory) -> None:
    ledger = start_ledger(f"sqlite:///{tmp_path / 'own.db'}", tmp_path / "own.log")
    try:
        customer, stranger = ledger.customer(), ledger.customer()
        closed = customer_client(start_gateway(ledger.url, queue=tmp_path / "closed.db"),
                                 customer)
        opened_gateway = start_gateway(ledger.url, "--fail-open", queue=tmp_path / "open.db")
        opened = customer_client(opened_gateway, customer)
        opened.chat.completions.create(model=MODEL, messages=MESSAGES)  # the key is now known
        ledger.server.kill()
        with pytest.raises(openai.APIStatusError) as refused:
            closed.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert (refused.value.status_code, refused.value.response.json()) == (503, UNAVAILABLE)
        served = opened.chat.completions.with_raw_response.create(model=MODEL,
                                                                   messages=MESSAGES)
        late_id = served.headers["x-usagebook-request-id"]
        with pytest.raises(openai.APIStatusError) as unknown:
            customer_client(opened_gateway, stranger).chat.completions.create(
                model=MODEL, messages=MESSAGES)
        assert unknown.value.status_code == 503
        ledger.server.start()  # same port, same database: the queued usage goes in
        entries = by_request(ledger.wait_for_entries(customer, 4))
        assert len(entries[late_id]) == 2
        assert all("holdId" not in e for e in entries[late_id])
    finally:
        ledger.server.stop()


def test_a_refused_operator_token_is_a_502_and_logged(
        ledger: Ledger, start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(ledger.url, operator_token="not-the-operator-token")
    customer = ledger.customer()
    answer = httpx.post(gateway.base_url + "/v1/chat/completions",
                        json={"model": MODEL, "messages": MESSAGES},
                        headers={"Authorization": f"Bearer {customer.key}"})
    assert (answer.status_code, answer.json()) == (502, UNAVAILABLE)
    log = gateway.log_path.read_text()
    assert "operator token" in log and customer.key not in log  # why, and never a secret
    access = [json.loads(line) for line in log.splitlines() if '"usagebook.gateway.access"' in line]
    assert access[-1]["status"] == 502
    assert access[-1]["request_id"] == answer.headers["x-usagebook-request-id"]
    nowhere = start_gateway(f"http://127.0.0.1:{free_port()}")
    answer = httpx.post(nowhere.base_url + "/v1/chat/completions",
                        json={"model": MODEL, "messages": MESSAGES},
                        headers={"Authorization": "Bearer ubk_whatever"})
    assert (answer.status_code, answer.json()) == (503, UNAVAILABLE)


def test_a_gateway_killed_with_sigkill_loses_no_answered_usage(
        ledger: Ledger, start_gateway: GatewayFactory, tmp_path: Path,
        upstream: tuple[FakeUpstream, str]) -> None:
    fake = upstream[0]
    front = LedgerFront(ledger.url)
    hop = ThreadedServer(front).start()
    customers = [ledger.customer() for _ in range(3)]
    queue = tmp_path / "kept.db"
    gateway = start_gateway(hop.base_url, queue=queue)
    front.refuse_recording = True  # answered usage can only wait in the queue
    answered: list[str] = []

    def call(n: int) -> str | None:
        client = customer_client(gateway, customers[n % 3])
        try:
            if n % 2:
                with client.chat.completions.with_streaming_response.create(
                        model=MODEL, messages=MESSAGES, stream=True,
                        extra_body={"fake": {"chunks": 3 + n % 5}}) as response:
                    request_id = response.headers["x-usagebook-request-id"]
                    list(response.parse())  # read to its [DONE]: answered whole
                    return request_id
            raw = client.chat.completions.with_raw_response.create(
                model=MODEL, messages=MESSAGES, extra_body={"fake": {"chunks": 2 + n % 4}})
            raw.parse()
            return raw.headers["x-usagebook-request-id"]
        except (openai.APIError, httpx.HTTPError):
            return None  # cut off by the kill: not answered

    try:
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(call, n) for n in range(60)]
            wait_until(lambda: sum(f.done() for f in futures) >= 30, seconds=90)
            gateway.kill()  # SIGKILL while requests are in flight
            answered = [r for f in futures if (r := f.result()) is not None]
        assert len(answered) >= 30 and front.recording_refused > 0
        front.refuse_recording = False
        start_gateway(hop.base_url, queue=queue)  # a new gateway on the same queue file
        total = len(answered) * 2
        entries: dict[str, list[dict[str, object]]] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            entries = {}
            for customer in customers:
                entries.update(by_request(ledger.entries(customer)))
            if sum(len(v) for k, v in entries.items() if k in answered) >= total:
                break
            time.sleep(0.2)
        for request_id in answered:  # every answered request is billed, exactly as reported
            assert_billed_as_reported(entries[request_id],  # type: ignore[arg-type]
                                      upstream_of(entries[request_id], fake))  # type: ignore[arg-type]
    finally:
        hop.stop()


def test_the_ledgers_rate_limit_reaches_the_customer_unchanged(
        tmp_path: Path, start_gateway: GatewayFactory) -> None:
    ledger = start_ledger(f"sqlite:///{tmp_path / 'own.db'}", tmp_path / "own.log",
                          USAGEBOOK_RATE_LIMIT_PER_MINUTE="2")
    try:
        client = customer_client(start_gateway(ledger.url), ledger.customer())
        # A fixed window per clock minute: within 5 calls, 3 fall in one minute.
        for _ in range(5):
            try:
                client.chat.completions.create(model=MODEL, messages=MESSAGES)
            except openai.RateLimitError as exc:
                assert exc.response.json()["error"]
                assert int(exc.response.headers["retry-after"]) >= 1
                break
        else:
            pytest.fail("no 429 relayed")
    finally:
        ledger.server.stop()

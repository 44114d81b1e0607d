"""The client against a real `usagebook serve`: record a batch and read it back (pages and
cursor walks), sync and async; retries keep the request ids, so a lost answer never charges
twice; errors arrive as the client's own exceptions."""

from __future__ import annotations

import ast
import asyncio
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.client import FAST_RETRY, SKU, Ledger, events, stored_request_ids
from tests.support.faulty_proxy import FaultyProxy
from tests.support.servers import free_port
from usagebook.client import (
    AsyncUsagebookClient,
    Estimate,
    Event,
    InvalidRequest,
    Refused,
    ServerError,
    Unauthorized,
    Unreachable,
    UsagebookClient,
)


def test_record_a_batch_and_read_it_back(ledger: Ledger) -> None:
    batch = events(ledger, 25)
    with ledger.client() as client:
        results = client.record(batch)
        assert [r.status for r in results] == ["recorded"] * 25
        assert [r.index for r in results] == list(range(25))
        first = results[0].entry
        assert (first.sku, first.units, first.prompt_tokens) == (SKU, Decimal("0.000123"), 123)
        assert first.amount == -Decimal("0.000123") * first.price_per_unit_usd  # exact
        assert [r.status for r in client.record(batch[:3])] == ["duplicate"] * 3
        newest = client.usage_page(limit=25)
        assert {e.request_id for e in newest.entries} == {e.request_id for e in batch}
        walked = client.history_pages(page_size=10)
        sizes = [len(page) for page in walked]
        assert sizes[:2] == [10, 10] and sum(sizes) >= 25 and all(s <= 10 for s in sizes)
        assert client.balance()["canConsume"] is True
    prefix = batch[0].request_id.split("-")[0]
    assert sorted(stored_request_ids(ledger, prefix)) == sorted(e.request_id for e in batch)


def test_usage_walks_every_page(ledger: Ledger) -> None:
    batch = events(ledger, 12)
    with ledger.client() as client:
        client.record(batch)
        seen = [e.request_id for e in client.usage(limit=5)]
    assert len(seen) == len(set(seen))
    assert {e.request_id for e in batch} <= set(seen)


def test_the_async_client_records_and_walks(ledger: Ledger) -> None:
    batch = events(ledger, 15)

    async def scenario() -> tuple[list[str], list[str]]:
        async with AsyncUsagebookClient(ledger.url, api_key=ledger.admin_key,
                                        operator_token=ledger.operator_token) as client:
            statuses = [r.status for r in await client.record(batch)]
            walked = [e.request_id async for e in client.history(page_size=10)
                      if e.request_id]
            paged = [e.request_id async for e in client.usage(limit=10)]
            assert paged[:15] == [e.request_id for e in reversed(batch)]
            return statuses, walked

    statuses, walked = asyncio.run(scenario())
    assert statuses == ["recorded"] * 15
    assert [rid for rid in walked if rid.startswith(batch[0].request_id.split("-")[0])] == [
        e.request_id for e in batch]


def test_a_lost_answer_is_retried_with_the_same_request_ids(
    ledger: Ledger, proxy: FaultyProxy
) -> None:
    batch = events(ledger, 4)
    proxy.faults = ["lose"]  # the server records the batch; its answer never arrives
    with ledger.client(proxy.url, retry=FAST_RETRY) as client:
        results = client.record(batch)
    assert [r.status for r in results] == ["duplicate"] * 4  # the retry found the first try
    assert proxy.batches == [[e.request_id for e in batch]] * 2
    prefix = batch[0].request_id.split("-")[0]
    assert sorted(stored_request_ids(ledger, prefix)) == sorted(e.request_id for e in batch)


def test_refusals_are_retried_then_reported(ledger: Ledger, proxy: FaultyProxy) -> None:
    proxy.faults = ["refuse"] * 2
    with ledger.client(proxy.url, retry=FAST_RETRY) as client:
        assert [r.status for r in client.record(events(ledger, 2))] == ["recorded"] * 2
        proxy.faults = ["refuse"] * 3
        with pytest.raises(ServerError):
            client.record(events(ledger, 1))
    assert len(proxy.batches) == 3 + 3


def test_errors_are_the_clients_own(ledger: Ledger) -> None:
    with ledger.client() as client:
        with pytest.raises(InvalidRequest) as invalid:
            client.record([Event("bad-sku", "no-such-sku", "1", account_id=ledger.account_id)])
        assert invalid.value.details["events"]["0"]["sku"]["_errors"]
        wrong = UsagebookClient(ledger.url, operator_token="not-the-token", api_key="nope")
        with pytest.raises(Unauthorized):
            wrong.record(events(ledger, 1))
        with pytest.raises(Unauthorized):
            wrong.balance()
        wrong.close()
    dead = UsagebookClient(f"http://127.0.0.1:{free_port()}", api_key="k", retry=FAST_RETRY)
    with pytest.raises(Unreachable):
        dead.balance()
    with pytest.raises(TypeError):
        Event("x", SKU, 0.1, account_id="acct_x")  # type: ignore[arg-type]  # never a float


def test_authorize_then_settle(ledger: Ledger) -> None:
    with ledger.client() as client:
        hold = client.authorize(Estimate(items=[(SKU, "0.01")]),
                                api_key_id=ledger.inference_key_id, request_id="auth-1")
        assert hold.amount > 0 and hold.hold_id
        again = client.authorize(Estimate(items=[(SKU, "0.01")]),
                                 api_key_id=ledger.inference_key_id, request_id="auth-1")
        assert again.hold_id == hold.hold_id  # idempotent by requestId
        by_secret = client.authorize(Estimate(amount="0.5"), api_key=ledger.inference_key)
        assert by_secret.api_key_id == ledger.inference_key_id
        settled = client.settle(hold, events(ledger, 2))
        assert [r.status for r in settled] == ["recorded"] * 2
        assert {r.entry.currency for r in settled} == {hold.currency}
        with pytest.raises(Refused) as refused:
            client.authorize(Estimate(amount="1000000000"), api_key_id=ledger.inference_key_id)
        assert refused.value.status == 402


def test_the_client_imports_nothing_of_the_server() -> None:
    package = Path(__file__).parents[2] / "usagebook" / "client"
    modules = sorted(package.glob("*.py"))
    assert len(modules) > 3, package  # else the loop below checks nothing
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith("usagebook") or name.startswith("usagebook.client"), (
                    path.name, name)
                assert name.split(".")[0] not in {"fastapi", "starlette", "sqlalchemy"}, name


def test_small_decimals_are_sent_without_exponent(ledger: Ledger) -> None:
    tiny = Decimal(5) / Decimal(10**7)
    assert str(tiny) == "5E-7"  # what str() would have sent
    event = Event(f"tiny-{uuid.uuid4().hex}", SKU, tiny, api_key_id=ledger.inference_key_id)
    assert event.to_wire()["units"] == "0.0000005"
    assert Estimate(amount=tiny).to_wire() == {"amount": "0.0000005"}
    with ledger.client() as client:
        (result,) = client.record([event])
    assert result.status == "recorded" and result.entry.units == tiny

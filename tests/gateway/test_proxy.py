"""The gateway end to end: the official openai client as the customer, the fake upstream,
a real ledger. Every charge is checked against what the upstream reported."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import (
    CACHED_MODEL,
    MODEL,
    UPSTREAM_KEY,
    Ledger,
    assert_billed_as_reported,
    by_request,
    customer_client,
    upstream_of,
)
from tests.support.servers import GatewayServer
from usagebook.gateway.usage import COUNTED_NOTE

MESSAGES = [{"role": "user", "content": "Say hello in a few words, please."}]


@pytest.fixture(params=["sqlite", "postgresql"])
def billing(request: pytest.FixtureRequest) -> tuple[Ledger, GatewayServer]:
    """A ledger on each database, with a gateway in front."""
    if request.param == "sqlite":
        return request.getfixturevalue("ledger"), request.getfixturevalue("gateway")
    ledger: Ledger = request.getfixturevalue("postgres_ledger")
    return ledger, request.getfixturevalue("start_gateway")(ledger.url)


def test_every_endpoint_is_billed_what_the_upstream_reported(
        billing: tuple[Ledger, GatewayServer], upstream: tuple[FakeUpstream, str]) -> None:
    fake = upstream[0]
    any_ledger, gateway = billing
    customer = any_ledger.customer()
    client = customer_client(gateway, customer)
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    chat = raw.parse()
    request_ids = [raw.headers["x-usagebook-request-id"]]
    assert request_ids[0].startswith("gw_") and chat.id.startswith("chatcmpl-")
    assert chat.usage is not None and chat.usage.completion_tokens == 10
    with client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=MESSAGES, stream=True) as response:
        request_ids.append(response.headers["x-usagebook-request-id"])
        chunks = list(response.parse())
    # The customer did not ask for the usage chunk: the gateway asked, and kept it.
    assert all(chunk.choices for chunk in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "w0 w1 w2 w3 w4 "
    with client.chat.completions.with_streaming_response.create(
            model=CACHED_MODEL, messages=MESSAGES, stream=True,
            stream_options={"include_usage": True},
            extra_body={"fake": {"cached": 7, "chunks": 3}}) as response:
        request_ids.append(response.headers["x-usagebook-request-id"])
        chunks = list(response.parse())
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
    raw_text = client.completions.with_raw_response.create(model=MODEL, prompt="Once upon")
    request_ids.append(raw_text.headers["x-usagebook-request-id"])
    with client.completions.with_streaming_response.create(
            model=MODEL, prompt="Once upon", stream=True) as response:
        request_ids.append(response.headers["x-usagebook-request-id"])
        assert len([c for c in response.parse() if c.choices and c.choices[0].text]) == 5
    raw_embedding = client.embeddings.with_raw_response.create(
        model="text-embedding-bge-m3", input="embed me")
    embedding_id = raw_embedding.headers["x-usagebook-request-id"]
    assert raw_embedding.parse().data[0].embedding == [0.25, -0.5, 0.125]
    # OpenAI's embedding answers carry no id: the last one the upstream served is this one.
    embedded = [s for s in fake.served.values() if s.path == "/v1/embeddings"][-1]

    entries = by_request(any_ledger.wait_for_entries(customer, 2 * 5 + 3 + 1))
    assert sorted(entries) == sorted([*request_ids, embedding_id])
    assert_billed_as_reported(entries[embedding_id], embedded)
    for request_id in request_ids:
        served = upstream_of(entries[request_id], fake)
        assert served.authorization == f"Bearer {UPSTREAM_KEY}"  # never the customer's key
        assert_billed_as_reported(entries[request_id], served)
        assert {e["inferenceDetails"]["inferenceExecutionTime"] is not None
                for e in entries[request_id]} == {True}


def test_usage_the_upstream_did_not_report_is_counted_and_flagged(
        ledger: Ledger, gateway: GatewayServer) -> None:
    customer = ledger.customer()
    client = customer_client(gateway, customer)
    prompt = [{"role": "user", "content": "x" * 40}]  # 10 tokens by the 4-characters rule
    with client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=prompt, stream=True,
            extra_body={"fake": {"mode": "nousage", "chunks": 6}}) as response:
        streamed = response.headers["x-usagebook-request-id"]
        list(response.parse())
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=prompt, extra_body={"fake": {"mode": "nousage", "chunks": 4}})
    plain = raw.headers["x-usagebook-request-id"]
    entries = by_request(ledger.wait_for_entries(customer, 4))
    for request_id, output in ((streamed, 6), (plain, 3)):  # 6 chunks; "w0 w1 w2 w3 " / 4
        details = {(e["inferenceDetails"]["promptTokens"],
                    e["inferenceDetails"]["completionTokens"]) for e in entries[request_id]}
        assert details == {(10, output)}
        assert all(COUNTED_NOTE in e["notes"] for e in entries[request_id])


def test_refusals_before_the_upstream(ledger: Ledger, gateway: GatewayServer,
                                      upstream: tuple[FakeUpstream, str]) -> None:
    fake = upstream[0]
    customer = ledger.customer()
    client = customer_client(gateway, customer)
    served_before = len(fake.served)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert missing.value.response.json() == {"error": "Model no-such-model is not available"}
    assert missing.value.response.headers["x-usagebook-request-id"].startswith("gw_")
    with openai.OpenAI(api_key="ubk_not_a_real_key", base_url=gateway.base_url + "/v1",
                       max_retries=0) as stranger, pytest.raises(
                           openai.AuthenticationError) as unknown:
        stranger.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert unknown.value.response.json() == {"error": "Invalid API key"}
    keyless = httpx.post(gateway.base_url + "/v1/chat/completions",
                         json={"model": MODEL, "messages": MESSAGES})
    assert (keyless.status_code, keyless.json()) == (401, {"error": "Invalid API key"})
    broke = customer_client(gateway, ledger.customer(credit="0"))
    with pytest.raises(openai.APIStatusError) as refused:
        broke.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert refused.value.status_code == 402
    assert refused.value.response.json() == {"error": "Insufficient balance"}
    assert len(fake.served) == served_before  # none of these reached the upstream
    assert ledger.entries(customer) == []


def test_an_upstream_error_passes_through_and_charges_nothing(
        ledger: Ledger, gateway: GatewayServer) -> None:
    customer = ledger.customer()
    client = customer_client(gateway, customer)
    for status, error in ((500, openai.InternalServerError), (400, openai.BadRequestError)):
        with pytest.raises(error) as failed:
            client.chat.completions.create(model=MODEL, messages=MESSAGES,
                                           extra_body={"fake": {"mode": "fail",
                                                                "status": status}})
        assert failed.value.status_code == status
        assert failed.value.response.json()["error"]["type"] == "server_error"
        with pytest.raises(error):
            client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                           extra_body={"fake": {"mode": "fail",
                                                                "status": status}})
    client.chat.completions.create(model=MODEL, messages=MESSAGES)  # then one that works
    assert len(ledger.wait_for_entries(customer, 2)) == 2


def test_models_are_listed_from_the_upstream(ledger: Ledger,
                                             gateway: GatewayServer) -> None:
    client = customer_client(gateway, ledger.customer())
    assert [model.id for model in client.models.list()] == ["llama-3.3-70b"]


@pytest.mark.parametrize("include_usage", [False, True])
def test_a_chunk_cut_mid_event_reaches_the_customer_before_the_event_is_complete(
        ledger: Ledger, gateway: GatewayServer, include_usage: bool) -> None:
    """The upstream sends the first half of each content event, then the rest a second later;
    the customer has the first half while the upstream still withholds the rest."""
    customer = ledger.customer()
    body = {"model": MODEL, "messages": MESSAGES, "stream": True,
            "fake": {"chunks": 2, "split": 1.0}}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    received: list[tuple[float, bytes]] = []
    with httpx.stream("POST", gateway.base_url + "/v1/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {customer.key}"}, timeout=30) as answer:
        assert answer.status_code == 200
        for chunk in answer.iter_raw():
            received.append((time.monotonic(), chunk))
    stream = b"".join(chunk for _, chunk in received)
    assert stream.endswith(b"data: [DONE]\n\n") and (b'"usage"' in stream) is include_usage
    for word in (b'"content":"w0 "', b'"content":"w1 "'):
        end = stream.index(word) + len(word) - 3  # the cut: the text's first letter, `w`
        half_at = next(at for at, got in _prefixes(received) if len(got) >= end)
        whole_at = next(at for at, got in _prefixes(received) if len(got) >= end + 3)
        assert whole_at - half_at >= 0.5  # the half came first, on its own


def _prefixes(received: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """(when, everything received until then), chunk by chunk."""
    found, so_far = [], b""
    for at, chunk in received:
        so_far += chunk
        found.append((at, so_far))
    return found

"""The gateway's metering rules without servers: estimates, the upstream's usage, the
fallback count, the ledger events a request becomes, and reading a stream's events."""

from __future__ import annotations

from decimal import Decimal

import orjson

from usagebook.gateway.records import UsageRecord
from usagebook.gateway.sse import StreamTally
from usagebook.gateway.usage import (
    COUNTED_NOTE,
    Kind,
    Usage,
    counted_answer_usage,
    output_tokens_cap,
    prompt_tokens_guess,
    reported_usage,
)


def record(usage: Usage, kind: str = Kind.CHAT, **fields: object) -> UsageRecord:
    values: dict[str, object] = {
        "request_id": "gw_1", "model": "qwen3-235b", "kind": kind, "api_key_id": "key_1",
        "hold_id": "hold_1", "execution_ms": 12, "timestamp": "2026-12-02T05:00:00.000Z",
        "upstream_id": "chatcmpl-9", **fields}
    return UsageRecord.of(usage, **values)


def test_cached_tokens_leave_the_input_count_when_their_sku_is_priced() -> None:
    events = record(Usage(1000, 250, cached_tokens=400)).events(cache_read_priced=True)
    units = {e["sku"]: Decimal(e["units"]) for e in events}
    assert units == {"qwen3-235b-llm-input-mtoken": Decimal("0.0006"),
                     "qwen3-235b-llm-output-mtoken": Decimal("0.00025"),
                     "qwen3-235b-llm-cache-read-mtoken": Decimal("0.0004")}
    # Every entry of the request names all prompt tokens, the completion and the hold.
    assert {(e["promptTokens"], e["completionTokens"], e["holdId"], e["requestId"])
            for e in events} == {(1000, 250, "hold_1", "gw_1")}
    assert all(e["notes"] == "upstream id chatcmpl-9" for e in events)


def test_unpriced_cache_read_charges_cached_tokens_as_input() -> None:
    events = record(Usage(1000, 250, cached_tokens=400)).events(cache_read_priced=False)
    assert {e["sku"]: e["units"] for e in events} == {
        "qwen3-235b-llm-input-mtoken": "0.001", "qwen3-235b-llm-output-mtoken": "0.00025"}


def test_zero_tokens_make_no_event_and_embeddings_bill_their_own_sku() -> None:
    assert [e["sku"] for e in record(Usage(7, 0)).events(True)] == ["qwen3-235b-llm-input-mtoken"]
    events = record(Usage(12, 0), kind=Kind.EMBEDDING, model="bge").events(True)
    assert [(e["sku"], e["units"]) for e in events] == [("bge-embedding-input-mtoken",
                                                         "0.000012")]
    assert "completionTokens" not in events[0]


def test_counted_usage_is_flagged_and_a_record_survives_its_json() -> None:
    counted = record(Usage(5, 3, counted=True), hold_id=None)
    assert counted.events(True)[0]["notes"] == f"upstream id chatcmpl-9; {COUNTED_NOTE}"
    assert "holdId" not in counted.events(True)[0]
    assert UsageRecord.from_json(counted.to_json()) == counted


def test_estimate_parts() -> None:
    chat = {"messages": [{"role": "user", "content": "x" * 9},
                         {"role": "user", "content": [{"type": "text", "text": "y" * 3}]}]}
    assert prompt_tokens_guess(Kind.CHAT, chat) == 3  # 12 characters, 4 a token
    assert prompt_tokens_guess(Kind.COMPLETION, {"prompt": ["abcde", [1, 2, 3]]}) == 5
    assert prompt_tokens_guess(Kind.EMBEDDING, {"input": ""}) == 1  # never zero
    assert output_tokens_cap({"max_tokens": 100}, 4096) == 100
    assert output_tokens_cap({"max_completion_tokens": 10**6}, 4096) == 4096
    assert output_tokens_cap({}, 512) == 512


def test_reported_and_counted_usage() -> None:
    answer = {"usage": {"prompt_tokens": 10, "completion_tokens": 4,
                        "prompt_tokens_details": {"cached_tokens": 99}}}
    assert reported_usage(answer) == Usage(10, 4, 10)  # cached never above the prompt
    assert reported_usage({"usage": {"prompt_tokens": "10"}}) is None
    assert reported_usage({"usage": None}) is None
    counted = counted_answer_usage(Kind.CHAT, {"messages": [{"content": "abcdefgh"}]},
                                   {"choices": [{"message": {"content": "123456789"}}]})
    assert counted == Usage(2, 3, counted=True)


def sse(chunk: object) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def feed_all(tally: StreamTally, stream: bytes, step: int) -> list[list[tuple[bytes, bool]]]:
    """The passages for each chunk, the stream cut every `step` bytes."""
    passages = [tally.feed(stream[i:i + step]) for i in range(0, len(stream), step)]
    return [*passages, [(tally.rest(), False)]]


def joined(passages: list[list[tuple[bytes, bool]]]) -> bytes:
    return b"".join(data for chunk in passages for data, _ in chunk)


CONTENT = {"id": "c1", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
USAGE = {"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
STREAM = sse(CONTENT) + b": keep-alive\r\n\r\n" + sse(USAGE) + b"data: [DONE]\n\n"


def test_a_stream_the_customer_asked_usage_of_passes_byte_for_byte() -> None:
    for step in (1, 7, 64, len(STREAM)):  # events cut at arbitrary byte boundaries
        tally = StreamTally(Kind.CHAT, relay_usage_chunk=True)
        passages = feed_all(tally, STREAM, step)
        for i, chunk in enumerate(passages[:-1]):  # each chunk's bytes go out as they came
            assert b"".join(data for data, _ in chunk) == STREAM[i * step:(i + 1) * step]
        done = [data for chunk in passages for data, completes in chunk if completes]
        assert b"".join(done) in b"data: [DONE]\n\n" and STREAM.endswith(done[0])
        assert tally.usage(prompt_guess=50) == Usage(3, 1)
        assert (tally.upstream_id, tally.content_chunks) == ("c1", 1)


def test_the_usage_chunk_nobody_asked_for_is_dropped_and_the_rest_passes_at_once() -> None:
    for step in (1, 7, 64, len(STREAM)):
        tally = StreamTally(Kind.CHAT, relay_usage_chunk=False)
        assert joined(feed_all(tally, STREAM, step)) == STREAM.replace(sse(USAGE), b"")
        assert tally.usage(prompt_guess=50) == Usage(3, 1)
    # A content event goes out as soon as its bytes show a choice, before it is complete.
    tally = StreamTally(Kind.CHAT, relay_usage_chunk=False)
    cut = sse(CONTENT).index(b'"delta"')
    assert tally.feed(sse(CONTENT)[:cut]) == [(sse(CONTENT)[:cut], False)]
    assert tally.feed(sse(CONTENT)[cut:cut + 5]) == [(sse(CONTENT)[cut:cut + 5], False)]
    assert tally.content_chunks == 0  # counted once complete
    assert tally.feed(sse(CONTENT)[cut + 5:]) == [(sse(CONTENT)[cut + 5:], False)]
    assert tally.content_chunks == 1
    # An event that has shown no choice yet waits for its end (it may be the usage chunk).
    head = sse(USAGE)[:20]
    assert tally.feed(head) == []
    assert tally.feed(sse(USAGE)[20:] + b"data: [DONE]\n\n") == [(b"data: [DONE]\n\n", True)]


def test_stream_without_usage_is_counted_per_content_chunk() -> None:
    tally = StreamTally(Kind.COMPLETION, relay_usage_chunk=False)
    for text in ("a", "", "bcd"):
        tally.feed(sse({"id": "x", "choices": [{"text": text}]}))
    assert tally.usage(prompt_guess=6) == Usage(6, 2, counted=True)


def test_the_gateway_reaches_the_ledger_only_over_http() -> None:
    """No module of usagebook.gateway imports the server's layers (store, ledger, api, app)."""
    import ast
    from pathlib import Path

    import usagebook.gateway

    forbidden = ("usagebook.store", "usagebook.ledger", "usagebook.api", "usagebook.app")
    modules = sorted(Path(usagebook.gateway.__file__).parent.glob("*.py"))
    assert len(modules) > 5, modules  # else the loop below checks nothing
    for module in modules:
        for node in ast.walk(ast.parse(module.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n.startswith(forbidden)], module.name

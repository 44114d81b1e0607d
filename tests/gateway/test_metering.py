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


def test_stream_events_split_anywhere_and_usage_chunk_only_when_asked() -> None:
    content = {"id": "c1", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    usage = {"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
    stream = sse(content) + b": keep-alive\r\n\r\n" + sse(usage) + b"data: [DONE]\n\n"
    for relay_usage in (False, True):
        tally = StreamTally(Kind.CHAT, relay_usage_chunk=relay_usage)
        kept: list[bytes] = []
        for i in range(0, len(stream), 7):  # events cut at arbitrary byte boundaries
            for raw, data in tally.split(stream[i:i + 7]):
                keep, contents = tally.read(data)
                tally.content_chunks += contents
                kept += [raw] if keep else []
        assert tally.rest() == b""
        assert (sse(usage) in kept) is relay_usage
        assert kept[0] == sse(content) and kept[-1] == b"data: [DONE]\n\n"
        assert tally.usage(prompt_guess=50) == Usage(3, 1)
        assert (tally.upstream_id, tally.content_chunks) == ("c1", 1)


def test_stream_without_usage_is_counted_per_content_chunk() -> None:
    tally = StreamTally(Kind.COMPLETION, relay_usage_chunk=False)
    for text in ("a", "", "bcd"):
        for _, data in tally.split(sse({"id": "x", "choices": [{"text": text}]})):
            tally.content_chunks += tally.read(data)[1]
    assert tally.usage(prompt_guess=6) == Usage(6, 2, counted=True)


def test_the_gateway_reaches_the_ledger_only_over_http() -> None:
    """No module of usagebook.gateway imports the server's layers (store, ledger, api, app)."""
    import ast
    from pathlib import Path

    import usagebook.gateway

    forbidden = ("usagebook.store", "usagebook.ledger", "usagebook.api", "usagebook.app")
    for module in Path(usagebook.gateway.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n.startswith(forbidden)], module.name

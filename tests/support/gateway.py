"""Reconciling the ledger with what the fake upstream really did."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.support.fake_upstream import FakeUpstream, Served
from usagebook.gateway.usage import COUNTED_NOTE

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

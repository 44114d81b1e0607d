"""A metered request as the queue keeps it, and the ledger events it becomes.

The queue stores the facts (tokens, key, hold), not the events: whether a model's cache-read
SKU is priced is learned from the ledger and may change, and the events are made from the
facts at each attempt. Every event of a request carries the gateway's request id: the ledger
records `(account, requestId, sku)` once, so sending a record again never charges twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import orjson

from usagebook.gateway.usage import COUNTED_NOTE, Kind, Usage
from usagebook.money import format_decimal

MILLION = Decimal(1_000_000)


def input_sku(model: str, kind: str) -> str:
    return f"{model}-embedding-input-mtoken" if kind == Kind.EMBEDDING else \
        f"{model}-llm-input-mtoken"


def output_sku(model: str) -> str:
    return f"{model}-llm-output-mtoken"


def cache_read_sku(model: str) -> str:
    return f"{model}-llm-cache-read-mtoken"


def mtokens(tokens: int) -> str:
    """Ledger units of a per-million-tokens SKU: exact, at most 6 decimal places."""
    return format_decimal(Decimal(tokens) / MILLION)


@dataclass(frozen=True)
class UsageRecord:
    request_id: str
    model: str
    kind: str
    api_key_id: str | None
    hold_id: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    counted: bool
    execution_ms: int
    timestamp: str  # ISO 8601 UTC: the entry's time is the answer's, however late it is sent
    upstream_id: str | None

    @classmethod
    def of(cls, usage: Usage, **fields: Any) -> UsageRecord:
        return cls(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                   cached_tokens=usage.cached_tokens, counted=usage.counted, **fields)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> UsageRecord:
        return cls(**orjson.loads(raw))

    def notes(self) -> str:
        parts = [f"upstream id {self.upstream_id}"] if self.upstream_id else []
        if self.counted:
            parts.append(COUNTED_NOTE)
        return "; ".join(parts)

    def events(self, cache_read_priced: bool) -> list[dict[str, Any]]:
        """The ledger events of this request; tokens that are zero make no event (a ledger
        unit count must be above zero). Cached tokens leave the input count when they are
        charged on the cache-read SKU, so no token is charged twice."""
        cached = self.cached_tokens if cache_read_priced and self.kind != Kind.EMBEDDING else 0
        lines = [(input_sku(self.model, self.kind), self.prompt_tokens - cached)]
        if self.kind != Kind.EMBEDDING:
            lines += [(output_sku(self.model), self.completion_tokens),
                      (cache_read_sku(self.model), cached)]
        common = self._common()
        return [{**common, "sku": sku, "units": mtokens(tokens)}
                for sku, tokens in lines if tokens > 0]

    def _common(self) -> dict[str, Any]:
        common: dict[str, Any] = {
            "requestId": self.request_id, "apiKeyId": self.api_key_id,
            "timestamp": self.timestamp, "inferenceExecutionTime": self.execution_ms,
            "promptTokens": self.prompt_tokens,
        }
        if self.kind != Kind.EMBEDDING:
            common["completionTokens"] = self.completion_tokens
        if self.hold_id:
            common["holdId"] = self.hold_id
        if notes := self.notes():
            common["notes"] = notes
        return common

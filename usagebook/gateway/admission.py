"""Admission: authorize a request's estimated cost with the ledger before it is forwarded.

The answer is either `Admitted` (with the hold to settle) or an `Answer` for the customer:
authorize's own 401, 402 and 429 as they came, 404 for a model without prices, 503 when the
ledger cannot be reached (fail closed), 502 when it refuses the gateway's operator token.

`--fail-open`: while the ledger cannot be reached, keys this gateway has seen admitted are
served without a hold and their usage is recorded once the ledger is back; a key never seen
still gets the 503 (the gateway cannot tell a customer from a stranger without the ledger).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from usagebook.gateway.asgi import JSON_TYPE
from usagebook.gateway.config import GatewayConfig
from usagebook.gateway.ledger_client import (
    Hold,
    LedgerClient,
    LedgerUnreachable,
    OperatorRefused,
    Refusal,
    UnknownSku,
)
from usagebook.gateway.records import input_sku, mtokens, output_sku
from usagebook.gateway.usage import Kind, output_tokens_cap, prompt_tokens_guess

BILLING_UNAVAILABLE = "Billing is unavailable"
KNOWN_KEYS_MAX = 100_000  # fail-open memory: key ids by secret hash, forgotten past this

log = logging.getLogger("usagebook.gateway")


@dataclass(frozen=True)
class Admitted:
    hold_id: str | None  # None when served by --fail-open
    api_key_id: str


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=lambda: [JSON_TYPE])

    @classmethod
    def error(cls, status: int, message: str, *extra: tuple[bytes, bytes]) -> Answer:
        return cls(status, orjson.dumps({"error": message}), [JSON_TYPE, *extra])


@dataclass(frozen=True)
class Ticket:
    """One request to admit: who asks, for what, under which gateway request id."""

    kind: str
    model: str
    body: dict[str, Any]
    api_key: str
    request_id: str
    client_address: str | None


class Admission:
    def __init__(self, ledger: LedgerClient, config: GatewayConfig) -> None:
        self._ledger = ledger
        self._config = config
        self._known_keys: dict[bytes, str] = {}

    def estimate(self, ticket: Ticket) -> list[dict[str, str]]:
        prompt = prompt_tokens_guess(ticket.kind, ticket.body)
        items = [{"sku": input_sku(ticket.model, ticket.kind), "units": mtokens(prompt)}]
        if ticket.kind != Kind.EMBEDDING:
            output = output_tokens_cap(ticket.body, self._config.max_estimate_tokens)
            items.append({"sku": output_sku(ticket.model), "units": mtokens(output)})
        return items

    async def admit(self, ticket: Ticket) -> Admitted | Answer:
        body: dict[str, Any] = {
            "apiKey": ticket.api_key, "estimate": {"items": self.estimate(ticket)},
            "holdSeconds": self._config.hold_seconds, "requestId": ticket.request_id}
        if ticket.client_address:
            body["clientAddress"] = ticket.client_address
        try:
            outcome = await self._ledger.authorize(body)
        except OperatorRefused:
            log.error("the ledger refuses the gateway's operator token "
                      "(USAGEBOOK_OPERATOR_TOKEN): every request is refused with a 502")
            return Answer.error(502, BILLING_UNAVAILABLE)
        except LedgerUnreachable as exc:
            return self._unreachable(ticket, str(exc))
        if isinstance(outcome, Hold):
            self._remember(ticket.api_key, outcome.api_key_id)
            return Admitted(outcome.hold_id, outcome.api_key_id)
        if isinstance(outcome, UnknownSku):
            return Answer.error(404, f"Model {ticket.model} is not available")
        return _relayed(outcome)

    def _unreachable(self, ticket: Ticket, why: str) -> Admitted | Answer:
        known = self._known_keys.get(_digest(ticket.api_key))
        if self._config.fail_open and known:
            log.warning("ledger unreachable (%s): serving a known key, recording later", why)
            return Admitted(None, known)
        log.warning("ledger unreachable (%s): refused with a 503", why)
        return Answer.error(503, BILLING_UNAVAILABLE, (b"retry-after", b"5"))

    def _remember(self, api_key: str, key_id: str) -> None:
        if not self._config.fail_open:
            return
        if len(self._known_keys) >= KNOWN_KEYS_MAX:
            self._known_keys.clear()
        self._known_keys[_digest(api_key)] = key_id


def _relayed(refusal: Refusal) -> Answer:
    headers = [JSON_TYPE]
    if refusal.retry_after is not None:
        headers.append((b"retry-after", refusal.retry_after.encode("latin-1")))
    return Answer(refusal.status, refusal.body, headers)


def _digest(api_key: str) -> bytes:
    return hashlib.sha256(api_key.encode()).digest()

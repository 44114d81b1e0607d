"""The gateway's calls to the ledger (a `usagebook serve`), over HTTP with the operator token:
authorize an estimate before forwarding, record usage afterwards, or release the hold of a
request that recorded nothing.

Each answer is turned into one outcome type the proxy acts on; nothing here raises for an
answer the ledger gave, only `LedgerUnreachable` when there was none (or a 5xx).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson

AUTHORIZE_PATH = "/api/v1/usage/authorize"
EVENTS_PATH = "/api/v1/usage/events"
RELEASE_PATH = "/api/v1/usage/authorize/{}/release"
OPERATOR_REFUSED = "Invalid or missing operator token"

log = logging.getLogger("usagebook.gateway")


class LedgerUnreachable(Exception):
    """No answer, a timeout, or a 5xx: the ledger cannot decide now."""


class LedgerAnswered5xx(LedgerUnreachable):
    """The ledger answered, with a 5xx (its database busy or away)."""


class OperatorRefused(Exception):
    """The ledger refuses the gateway's operator token: a configuration error."""


@dataclass(frozen=True)
class Hold:
    hold_id: str
    api_key_id: str


@dataclass(frozen=True)
class Refusal:
    """An answer to relay to the customer as it came (401, 402, 429)."""

    status: int
    body: bytes
    retry_after: str | None


@dataclass(frozen=True)
class UnknownSku:
    """Authorize named an estimate's SKU as unknown: the model is not priced."""


Admission = Hold | Refusal | UnknownSku


@dataclass(frozen=True)
class Recorded:
    status: int  # 200 acknowledged; 400 refused (body names what); 401 operator refused
    body: Any


class LedgerClient:
    def __init__(self, base_url: str, operator_token: str, timeout: float) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout,
            headers={"Authorization": f"Bearer {operator_token}"},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def authorize(self, body: dict[str, Any]) -> Admission:
        try:
            answer = await self._post(AUTHORIZE_PATH, body)
        except LedgerAnswered5xx:
            # Once more: a busy ledger's 503 often passes, and the gateway's requestId makes a
            # repeat answer the same hold, never a second one.
            answer = await self._post(AUTHORIZE_PATH, body)
        if answer.status_code == 200:
            granted = answer.json()
            if not isinstance(granted.get("holdId"), str) or not granted.get("apiKeyId"):
                raise LedgerUnreachable("authorize granted a hold without holdId or apiKeyId")
            return Hold(granted["holdId"], granted["apiKeyId"])
        if answer.status_code == 400 and _names_sku(answer):
            return UnknownSku()
        if answer.status_code in (401, 402, 429):
            if answer.status_code == 401 and _error_text(answer) == OPERATOR_REFUSED:
                raise OperatorRefused(OPERATOR_REFUSED)
            return Refusal(answer.status_code, answer.content, answer.headers.get("retry-after"))
        # Anything else (a 400 on our own body, a 409) is a gateway bug or a misconfiguration.
        log.error("authorize answered %s: %s", answer.status_code, answer.text[:500])
        raise LedgerUnreachable(f"authorize answered {answer.status_code}")

    async def record(self, events: list[dict[str, Any]]) -> Recorded:
        answer = await self._post(EVENTS_PATH, {"events": events})
        try:
            body = answer.json()
        except ValueError:
            body = answer.text
        return Recorded(answer.status_code, body)

    async def release(self, hold_id: str) -> bool:
        """Release a hold: True once the ledger no longer counts it (released now, or ended
        before: settled, released, expired; or unknown to it), False when it refused the call
        (the operator token), which is logged. LedgerUnreachable when there was no answer."""
        answer = await self._post(RELEASE_PATH.format(quote(hold_id, safe="")), None)
        if answer.status_code in (200, 404):
            return True
        log.error("releasing hold %s answered %s: %s", hold_id, answer.status_code,
                  answer.text[:500])
        return False

    async def _post(self, path: str, body: dict[str, Any] | None) -> httpx.Response:
        try:
            answer = await self._http.post(
                path, content=b"" if body is None else orjson.dumps(body),
                headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            raise LedgerUnreachable(f"{type(exc).__name__}: {exc}") from exc
        if answer.status_code >= 500:
            raise LedgerAnswered5xx(f"{path} answered {answer.status_code}")
        return answer


def _error_text(answer: httpx.Response) -> str | None:
    try:
        body = answer.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None


def _names_sku(answer: httpx.Response) -> bool:
    """A DetailedError naming a `sku` field (e.g. `details.estimate.items.0.sku`)."""
    return any(path.split(".")[-1] == "sku" for path in problem_paths(answer))


def problem_paths(answer: httpx.Response | Any) -> list[str]:
    """The dotted paths a DetailedError names (nested `{"_errors": [...]}` objects)."""
    try:
        body = answer.json() if isinstance(answer, httpx.Response) else answer
    except ValueError:
        return []
    details = body.get("details") if isinstance(body, dict) else None
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        if node.get("_errors") and path:
            found.append(path)
        for key, child in node.items():
            if key != "_errors":
                walk(child, f"{path}.{key}" if path else key)

    walk(details, "")
    return found

"""The asyncio client: `UsagebookClient`'s calls, awaited; pages and walks as async iterators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

import httpx

from usagebook.client import _core
from usagebook.client.models import Entry, Estimate, Event, Hold, RecordResult, UsagePage


class AsyncUsagebookClient:
    """As `UsagebookClient` (same arguments, same guarantees), for asyncio servers.

    Use it as an async context manager, or await `aclose()`.
    """

    def __init__(self, base_url: str, *, api_key: str | None = None,
                 operator_token: str | None = None, timeout: float = 10.0,
                 retry: _core.RetryPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.api_key = api_key
        self.operator_token = operator_token
        self.retry = retry or _core.RetryPolicy()
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                       transport=transport)

    async def record(self, events: Iterable[Event]) -> list[RecordResult]:
        results: list[RecordResult] = []
        for chunk in _core.record_bodies(events):
            body = await self._send("POST", "/api/v1/usage/events", self._operator(),
                                    content=_core.jsonable(_core.events_body(chunk)))
            results += _core.record_results(body, len(results))
        return results

    async def authorize(self, estimate: Estimate, *, api_key_id: str | None = None,
                        api_key: str | None = None, hold_seconds: int | None = None,
                        request_id: str | None = None,
                        client_address: str | None = None) -> Hold:
        body = _core.authorize_body(estimate=estimate, api_key_id=api_key_id, api_key=api_key,
                                    hold_seconds=hold_seconds, request_id=request_id,
                                    client_address=client_address)
        answer = await self._send("POST", "/api/v1/usage/authorize", self._operator(),
                                  content=_core.jsonable(body),
                                  retry_statuses=frozenset({500, 502, 503, 504}))
        return _core.hold(answer)

    async def settle(self, hold: Hold | str, events: Iterable[Event]) -> list[RecordResult]:
        hold_id = hold if isinstance(hold, str) else hold.hold_id
        return await self.record(event.with_hold(hold_id) for event in events)

    async def usage_page(self, *, page: int = 1, limit: int = 200, currency: str | None = None,
                         start: datetime | str | None = None, end: datetime | str | None = None,
                         sort_order: str = "desc") -> UsagePage:
        params = _core.usage_params(currency=currency, start=start, end=end, limit=limit,
                                    page=page, sort_order=sort_order)
        return _core.usage_page(await self._get("/api/v1/billing/usage", params))

    async def usage(self, *, limit: int = 500, currency: str | None = None,
                    start: datetime | str | None = None, end: datetime | str | None = None,
                    sort_order: str = "desc") -> AsyncIterator[Entry]:
        page = 1
        while True:
            found = await self.usage_page(page=page, limit=limit, currency=currency,
                                          start=start, end=end, sort_order=sort_order)
            for entry in found.entries:
                yield entry
            if page >= found.total_pages:
                return
            page += 1

    async def history_pages(self, *, currency: str | None = None,
                            start: datetime | str | None = None,
                            end: datetime | str | None = None,
                            page_size: int = 1000) -> AsyncIterator[list[Entry]]:
        params = _core.history_params(currency=currency, start=start, end=end,
                                      page_size=page_size)
        while True:
            entries, cursor = _core.history_page(
                await self._get("/api/v1/billing/usage-history", params))
            yield entries
            if cursor is None:
                return
            params = {"cursor": cursor}

    async def history(self, **filters: Any) -> AsyncIterator[Entry]:
        async for entries in self.history_pages(**filters):
            for entry in entries:
                yield entry

    async def balance(self) -> Any:
        return await self._get("/api/v1/billing/balance", {})

    async def credits(self) -> Any:
        return await self._get("/api/v1/billing/credits", {})

    async def analytics(self, *, lookback: str | None = None, start_date: str | None = None,
                        end_date: str | None = None) -> Any:
        params = {k: v for k, v in {"lookback": lookback, "startDate": start_date,
                                    "endDate": end_date}.items() if v is not None}
        return await self._get("/api/v1/billing/usage-analytics", params)

    def _operator(self) -> dict[str, str]:
        return _core.bearer(self.operator_token, "operator_token")

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        return await self._send("GET", path,
                                _core.bearer(self.api_key, "api_key (an ADMIN key)"),
                                params=params)

    async def _send(self, method: str, path: str, headers: dict[str, str], *,
                    params: dict[str, str] | None = None, content: bytes | None = None,
                    retry_statuses: frozenset[int] = _core.RETRY_STATUSES) -> Any:
        if content is not None:
            headers = {**headers, "Content-Type": "application/json"}
        for attempt in range(1, self.retry.attempts + 1):
            answer: httpx.Response | Exception
            try:
                answer = await self._http.request(method, path, headers=headers,
                                                  params=params, content=content)
            except httpx.TransportError as exc:
                answer = exc
            if attempt == self.retry.attempts or not _core.should_retry(answer, retry_statuses):
                return _core.outcome(answer)
            retry_after = None if isinstance(answer, Exception) else _core.retry_after_of(answer)
            await asyncio.sleep(self.retry.delay(attempt, retry_after))
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncUsagebookClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

"""The blocking client: one `httpx.Client`, retries with backoff, pages and walks as iterators."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import httpx

from usagebook.client import _core
from usagebook.client.models import Entry, Estimate, Event, Hold, RecordResult, UsagePage


class UsagebookClient:
    """A usagebook server's API. `api_key` (an ADMIN key) reads an account's usage;
    `operator_token` records usage and authorizes holds. Recording and authorize are retried
    (5xx, 429, network errors) with the same request ids, so a retry never charges twice.

    Use it as a context manager, or call `close()`.
    """

    def __init__(self, base_url: str, *, api_key: str | None = None,
                 operator_token: str | None = None, timeout: float = 10.0,
                 retry: _core.RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.api_key = api_key
        self.operator_token = operator_token
        self.retry = retry or _core.RetryPolicy()
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                  transport=transport)

    # --- recording ---------------------------------------------------------------------------
    def record(self, events: Iterable[Event]) -> list[RecordResult]:
        """Record events, 1000 a request; results in the order given."""
        results: list[RecordResult] = []
        for chunk in _core.record_bodies(events):
            body = self._send("POST", "/api/v1/usage/events", self._operator(),
                              content=_core.jsonable(_core.events_body(chunk)))
            results += _core.record_results(body, len(results))
        return results

    def authorize(self, estimate: Estimate, *, api_key_id: str | None = None,
                  api_key: str | None = None, hold_seconds: int | None = None,
                  request_id: str | None = None, client_address: str | None = None) -> Hold:
        """Reserve an estimate before an inference call; raises `Refused` (402) when a limit
        or the balance does not cover it, `RateLimited` (429) when the key is over its rate."""
        body = _core.authorize_body(estimate=estimate, api_key_id=api_key_id, api_key=api_key,
                                    hold_seconds=hold_seconds, request_id=request_id,
                                    client_address=client_address)
        answer = self._send("POST", "/api/v1/usage/authorize", self._operator(),
                            content=_core.jsonable(body),
                            retry_statuses=frozenset({500, 502, 503, 504}))
        return _core.hold(answer)

    def settle(self, hold: Hold | str, events: Iterable[Event]) -> list[RecordResult]:
        """Record the real usage of an authorized call: every event names the hold, is
        charged in its currency, and the hold is released."""
        hold_id = hold if isinstance(hold, str) else hold.hold_id
        return self.record(event.with_hold(hold_id) for event in events)

    # --- reading -----------------------------------------------------------------------------
    def usage_page(self, *, page: int = 1, limit: int = 200, currency: str | None = None,
                   start: datetime | str | None = None, end: datetime | str | None = None,
                   sort_order: str = "desc") -> UsagePage:
        params = _core.usage_params(currency=currency, start=start, end=end, limit=limit,
                                    page=page, sort_order=sort_order)
        return _core.usage_page(self._get("/api/v1/billing/usage", params))

    def usage(self, *, limit: int = 500, currency: str | None = None,
              start: datetime | str | None = None, end: datetime | str | None = None,
              sort_order: str = "desc") -> Iterator[Entry]:
        """Every entry of GET /billing/usage for these filters, page after page."""
        page = 1
        while True:
            found = self.usage_page(page=page, limit=limit, currency=currency, start=start,
                                    end=end, sort_order=sort_order)
            yield from found.entries
            if page >= found.total_pages:
                return
            page += 1

    def history_pages(self, *, currency: str | None = None, start: datetime | str | None = None,
                      end: datetime | str | None = None, page_size: int = 1000
                      ) -> Iterator[list[Entry]]:
        """The cursor walk of GET /billing/usage-history, oldest first: every entry that
        existed when the walk started, exactly once, even while usage is being recorded."""
        params = _core.history_params(currency=currency, start=start, end=end,
                                      page_size=page_size)
        while True:
            entries, cursor = _core.history_page(
                self._get("/api/v1/billing/usage-history", params))
            yield entries
            if cursor is None:
                return
            params = {"cursor": cursor}

    def history(self, **filters: Any) -> Iterator[Entry]:
        """The entries of `history_pages(**filters)`, one at a time."""
        for entries in self.history_pages(**filters):
            yield from entries

    def balance(self) -> Any:
        return self._get("/api/v1/billing/balance", {})

    def credits(self) -> Any:
        return self._get("/api/v1/billing/credits", {})

    def analytics(self, *, lookback: str | None = None, start_date: str | None = None,
                  end_date: str | None = None) -> Any:
        params = {k: v for k, v in {"lookback": lookback, "startDate": start_date,
                                    "endDate": end_date}.items() if v is not None}
        return self._get("/api/v1/billing/usage-analytics", params)

    # --- plumbing ----------------------------------------------------------------------------
    def _operator(self) -> dict[str, str]:
        return _core.bearer(self.operator_token, "operator_token")

    def _get(self, path: str, params: dict[str, str]) -> Any:
        return self._send("GET", path, _core.bearer(self.api_key, "api_key (an ADMIN key)"),
                          params=params)

    def _send(self, method: str, path: str, headers: dict[str, str], *,
              params: dict[str, str] | None = None, content: bytes | None = None,
              retry_statuses: frozenset[int] = _core.RETRY_STATUSES) -> Any:
        if content is not None:
            headers = {**headers, "Content-Type": "application/json"}
        for attempt in range(1, self.retry.attempts + 1):
            answer: httpx.Response | Exception
            try:
                answer = self._http.request(method, path, headers=headers, params=params,
                                            content=content)
            except httpx.TransportError as exc:
                answer = exc
            if attempt == self.retry.attempts or not _core.should_retry(answer, retry_statuses):
                return _core.outcome(answer)
            retry_after = None if isinstance(answer, Exception) else _core.retry_after_of(answer)
            time.sleep(self.retry.delay(attempt, retry_after))
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> UsagebookClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

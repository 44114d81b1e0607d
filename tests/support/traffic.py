"""Background traffic for fault tests: writers recording small batches of events and readers
paging usage, each in its own thread, every answer noted with its batch of request ids."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field

import httpx

from tests.support.harness import OPERATOR_TOKEN, Tenant

EVENTS = "/api/v1/usage/events"
USAGE = "/api/v1/billing/usage"
SKU = "llama-3.3-70b-llm-input-mtoken"


@dataclass
class Answer:
    at: float  # time.monotonic() when the answer (or the failure) arrived
    status: int | None  # None: no HTTP answer at all (connection refused or cut)
    body: object = None
    batch: tuple[str, ...] = ()  # the request ids a write carried
    retry_after: str | None = None


@dataclass
class Traffic:
    base_url: str
    tenant: Tenant
    writers: int = 2
    readers: int = 1
    batch_size: int = 5
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Traffic:
        prefix = secrets.token_hex(4)
        for n in range(self.writers):
            self._spawn(self._write, f"{prefix}-w{n}")
        for _ in range(self.readers):
            self._spawn(self._read)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _note(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def _call(self, client: httpx.Client, method: str, path: str, batch: tuple[str, ...] = (),
              **kwargs: object) -> None:
        try:
            response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError:
            self._note(Answer(time.monotonic(), None, batch=batch))
            time.sleep(0.05)  # the server is gone: don't spin
            return
        body = response.json() if response.headers.get("content-type", "").startswith(
            "application/json") else response.text
        self._note(Answer(time.monotonic(), response.status_code, body, batch,
                          response.headers.get("retry-after")))

    def _write(self, prefix: str) -> None:
        headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        with httpx.Client(base_url=self.base_url, timeout=15, headers=headers) as client:
            for n in itertools.count():
                if self._stop.is_set():
                    return
                batch = tuple(f"{prefix}-{n}-{i}" for i in range(self.batch_size))
                events = [{"requestId": rid, "sku": SKU, "units": "0.001",
                           "accountId": self.tenant.account_id} for rid in batch]
                self._call(client, "POST", EVENTS, batch, json={"events": events})

    def _read(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=15, headers=self.tenant.admin) as client:
            while not self._stop.is_set():
                self._call(client, "GET", USAGE, params={"limit": 50})

    # What happened, by kind of answer.
    def writes(self) -> list[Answer]:
        return [a for a in self.answers if a.batch]

    def reads(self) -> list[Answer]:
        return [a for a in self.answers if not a.batch]

    def acknowledged(self) -> set[str]:
        """Request ids whose batch was answered 200 (the server said: recorded)."""
        return {rid for a in self.writes() if a.status == 200 for rid in a.batch}


def stored_request_ids(base_url: str, tenant: Tenant) -> list[str]:
    """Every request id in the account's ledger, read back through the API."""
    found: list[str] = []
    with httpx.Client(base_url=base_url, timeout=30, headers=tenant.admin) as client:
        for page in itertools.count(1):
            answer = client.get(USAGE, params={"limit": 500, "page": page, "sortOrder": "asc"})
            assert answer.status_code == 200, answer.text
            data = answer.json()["data"]
            found += [entry["inferenceDetails"]["requestId"] for entry in data]
            if page >= answer.json()["pagination"]["totalPages"]:
                return found
    raise AssertionError("unreachable")


def assert_whole_batches(traffic: Traffic, stored: list[str]) -> None:
    """Each acknowledged event is stored exactly once, and every batch is all or nothing."""
    assert len(stored) == len(set(stored)), "an event was stored twice"
    present = set(stored)
    assert traffic.acknowledged() <= present, "an acknowledged event was lost"
    for answer in traffic.writes():
        kept = [rid for rid in answer.batch if rid in present]
        assert len(kept) in (0, len(answer.batch)), f"partial batch {answer.batch}: {kept}"


def wait_until(seconds: float, check: object) -> None:
    """Returns once `check()` is true; fails if it is not within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")

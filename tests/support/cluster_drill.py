"""The failover drill's load and its reconciliation, driven through the cluster's HAProxy.

Writers record one event per request with a fresh requestId and retry it (same requestId) until
the ledger answers: an event counts as acknowledged once a 200 names it recorded or duplicate,
and must then be in the ledger exactly once, whatever died meanwhile. Readers read balances and
history pages. Every outage a writer sees is timed.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
SKU = "llama-3.3-70b-llm-input-mtoken"
GRANT = Decimal(1_000_000)


def cluster(*args: str, timeout: float = 300) -> dict[str, Any]:
    done = subprocess.run(["bash", str(ROOT / "deploy" / "cluster.sh"), *args], text=True,
                          capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"cluster.sh {' '.join(args)} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@dataclass
class Load:
    """Writers and readers running against `url` until stopped."""

    url: str
    operator_token: str
    admin_key: str
    account_id: str
    acknowledged: set[str] = field(default_factory=set)
    write_failures: list[float] = field(default_factory=list)  # times of failed attempts
    write_successes: list[float] = field(default_factory=list)
    read_failures: int = 0
    reads: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, writers: int = 4, readers: int = 2) -> None:
        for target, count in ((self._write_loop, writers), (self._read_loop, readers)):
            for _ in range(count):
                thread = threading.Thread(target=target, daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _write_loop(self) -> None:
        headers = {"Authorization": f"Bearer {self.operator_token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=5) as client:
            while not self._stop.is_set():
                request_id = f"drill-{next(self._ids)}"
                self._record_until_acknowledged(client, request_id)

    def _record_until_acknowledged(self, client: httpx.Client, request_id: str) -> None:
        body = {"events": [{"requestId": request_id, "sku": SKU, "units": "0.001",
                            "accountId": self.account_id}]}
        while True:  # an event once sent is retried until answered, even after stop()
            try:
                answer = client.post("/api/v1/usage/events", json=body)
                if answer.status_code == 200:
                    status = answer.json()["results"][0]["status"]
                    assert status in ("recorded", "duplicate"), answer.text
                    with self._lock:
                        self.acknowledged.add(request_id)
                        self.write_successes.append(time.monotonic())
                    return
            except httpx.HTTPError:
                pass
            with self._lock:
                self.write_failures.append(time.monotonic())
            time.sleep(0.2)

    def _read_loop(self) -> None:
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=5) as client:
            while not self._stop.is_set():
                try:
                    ok = all(client.get(path).status_code == 200 for path in (
                        "/api/v1/billing/balance", "/api/v1/billing/usage-history?pageSize=10"))
                except httpx.HTTPError:
                    ok = False
                with self._lock:
                    self.reads += 1
                    self.read_failures += 0 if ok else 1
                time.sleep(0.05)

    def first_success_after(self, moment: float) -> float | None:
        with self._lock:
            return min((t for t in self.write_successes if t > moment), default=None)

    def longest_write_gap(self, start: float, end: float) -> float:
        """The longest time within [start, end] with no write acknowledged (seconds)."""
        with self._lock:
            moments = [start, *sorted(t for t in self.write_successes if start < t < end), end]
        return round(max(b - a for a, b in itertools.pairwise(moments)), 2)

    def wait_for_success_after(self, moment: float, seconds: float) -> float | None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if (found := self.first_success_after(moment)) is not None:
                return found
            time.sleep(0.1)
        return None


def get_answered(url: str, headers: dict[str, str], **params: str) -> httpx.Response:
    """GET, waiting out a 429 or 503 (Retry-After, at most 5 s a time, 2 minutes in all)."""
    deadline = time.monotonic() + 120
    while True:
        answer = httpx.get(url, params=params, headers=headers, timeout=30)
        if answer.status_code not in (429, 503) or time.monotonic() > deadline:
            answer.raise_for_status()
            return answer
        time.sleep(min(5.0, float(answer.headers.get("Retry-After", "1"))))


def walk_history(urls: list[str], admin_key: str) -> list[dict[str, Any]]:
    """Every entry of the account by the cursor walk, each page read through the next host."""
    entries: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {admin_key}"}
    cursor: str | None = None
    for page in itertools.count():
        url = urls[page % len(urls)] + "/api/v1/billing/usage-history"
        params = {"cursor": cursor} if cursor else {"pageSize": "1000"}
        answer = get_answered(url, headers, **params)
        body = json.loads(answer.text, parse_float=Decimal)  # exact money, never a float
        entries.extend(body["data"])
        cursor = body["nextCursor"]
        if cursor is None:
            return entries


def reconcile(urls: list[str], admin_key: str, acknowledged: set[str]) -> dict[str, Any]:
    """Every acknowledged event is in the ledger exactly once and the balance is exact."""
    entries = walk_history(urls, admin_key)
    ids = [entry["inferenceDetails"]["requestId"] for entry in entries]
    missing = acknowledged - set(ids)
    repeated = len(ids) - len(set(ids))
    charged = sum((Decimal(entry["amount"]) for entry in entries), Decimal(0))
    answer = get_answered(urls[0] + "/api/v1/billing/balance",
                          {"Authorization": f"Bearer {admin_key}"})
    balance = json.loads(answer.text, parse_float=Decimal)
    return {"entries": len(entries), "acknowledged": len(acknowledged),
            "missing": sorted(missing)[:10], "missingCount": len(missing),
            "repeated": repeated, "balanceUsd": Decimal(balance["balances"]["usd"]),
            "expectedUsd": GRANT + charged}

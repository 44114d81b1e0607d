"""The read hot path in one run: usagebook against the raw database running the minimal
statements, and against a trivial FastAPI endpoint on the same server settings.

    .venv/bin/python -m bench.hotpath [--entries 1000000] [--seconds 5] [--backend both]
                                      [--no-profile] [--no-docs]

For each backend (PostgreSQL: the shared dataset of `bench/dataset.py` at `--entries`;
SQLite: a copy of it), with wrk (8 keep-alive connections, or 1 for single-client latency)
against `usagebook serve --workers 1` and `--workers 2` (both running, taking turns at each
case) and the trivial endpoint under the same uvicorn settings:
- GET /billing/balance: throughput with 8 clients, server CPU per request;
- GET /billing/usage page 1 (limit 200): single-client latency as JSON and CSV, throughput;
- GET /billing/usage-history continuation pages of 500: single-client latency, JSON and CSV;
and, right before and right after those cases (their mean is compared with them), the raw
statements (asyncpg with 8 connections / sqlite3 with 8 threads; one for latency): the key
by its hash with the account's allocation, balance rows and today's DIEM row in one read-only
transaction; the keyset page; the history keyset page. With
profiling on, py-spy samples one worker under load per endpoint (top own-time frames).
Results go to bench/results/hotpath.json and docs/performance.md ("The read hot path").
Needs wrk and py-spy: `bench/install-tools` installs them (`make bench` runs it).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import _raw
from bench._hotdata import ensure_balances, sqlite_copy
from bench._load import (
    load_average,
    process_tree,
    profile,
    require_py_spy,
    require_wrk,
    run_wrk,
    tree_cpu,
    wait_quiet,
)
from bench._report import write_report
from bench.dataset import RESULTS, BenchDataset, ensure_bench_account, entries_option
from tests.support.servers import UsagebookServer, free_port

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = 8
BALANCE = "/api/v1/billing/balance"
PAGE = "/api/v1/billing/usage?limit=200"
HISTORY = "/api/v1/billing/usage-history"
CSV = {"Accept": "text/csv"}


def _option(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def main() -> None:
    entries = entries_option(sys.argv, default=1_000_000)
    seconds = float(_option("--seconds", "5"))
    backends = _option("--backend", "both")
    require_wrk()  # before minutes of building data, not after
    if "--no-profile" not in sys.argv:
        require_py_spy()
    dataset = ensure_bench_account(entries=entries)
    asyncio.run(ensure_balances(dataset.database_url, dataset))
    results: dict[str, Any] = {"entries": entries, "seconds": seconds, "clients": CLIENTS,
                               "measured": datetime.now(tz=UTC).isoformat(timespec="seconds")}
    urls = {"postgresql": dataset.database_url}
    if backends in ("both", "sqlite"):
        path = sqlite_copy(dataset)
        urls["sqlite"] = f"sqlite:///{path}"
        asyncio.run(ensure_balances(urls["sqlite"], dataset))
    if backends == "sqlite":
        del urls["postgresql"]
    for backend, url in urls.items():
        results[backend] = _measure_backend(dataset, backend, url, seconds,
                                            "--no-profile" not in sys.argv)
    results["load"] = load_average()
    (RESULTS / "hotpath.json").write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, docs="--no-docs" not in sys.argv)


def _measure_backend(dataset: BenchDataset, backend: str, url: str, seconds: float,
                     profiling: bool) -> dict[str, Any]:
    """The others' load moves a lot within minutes, so what is compared is measured side by
    side: the 1- and 2-worker servers run at once and take turns at each case; the raw
    statements run right before and right after them (their mean is the figure)."""
    auth = {"Authorization": f"Bearer {dataset.admin_key}"}
    found: dict[str, Any] = {"trivial": {}, "usagebook": {"w1": {}, "w2": {}}, "profiles": {},
                             "raw runs": []}
    with _trivial(1) as one, _trivial(2) as two:
        for label, (base, pid) in (("w1", one), ("w2", two)):
            found["trivial"][label] = run_wrk(base + "/ping", connections=CLIENTS,
                                              seconds=seconds, headers={},
                                              server_pid=pid).__dict__
    wait_quiet()
    found["raw runs"].append(_raw.measure(backend, url, dataset, seconds, CLIENTS))
    with _usagebook(dataset, url, 1) as one, _usagebook(dataset, url, 2) as two:
        history = _history_cursor_url(two[0], auth)  # signed with the secret both servers use
        cases = {"balance": (BALANCE, {}), "page": (PAGE, {}), "page csv": (PAGE, CSV),
                 "history": (history, {}), "history csv": (history, CSV)}
        for name, (path, extra) in cases.items():
            for clients in (1, CLIENTS) if name in ("balance", "page") else (1,):
                for label, (base, pid) in (("w1", one), ("w2", two)):
                    found["usagebook"][label][f"{name} c{clients}"] = run_wrk(
                        base + path, connections=clients, seconds=seconds,
                        headers={**auth, **extra}, server_pid=pid).__dict__
        found["raw runs"].append(_raw.measure(backend, url, dataset, seconds, CLIENTS))
        if profiling:
            base, pid = two
            for name in ("balance", "page", "history"):
                path, extra = cases[name]
                found["profiles"][name] = _profiled(base + path, {**auth, **extra}, pid,
                                                    backend, name)
    wait_quiet()
    before, after = found["raw runs"]
    found["raw"] = {case: (before[case] + after[case]) / 2 for case in before}
    return found


def _trivial(workers: int) -> Any:
    from contextlib import contextmanager

    @contextmanager
    def serving() -> Any:
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "bench._trivial:app", "--host", "127.0.0.1",
                   "--port", str(port), "--workers", str(workers), "--no-access-log",
                   "--log-level", "warning"]
        process = subprocess.Popen(command, cwd=ROOT)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_up(base + "/ping")
            yield base, process.pid
        finally:
            process.terminate()
            process.wait(timeout=15)

    return serving()


def _usagebook(dataset: BenchDataset, url: str, workers: int) -> Any:
    from contextlib import contextmanager

    @contextmanager
    def serving() -> Any:
        env = {"USAGEBOOK_DATABASE_URL": url, "USAGEBOOK_SECRET_KEY": dataset.secret_key,
               "USAGEBOOK_RATE_LIMIT_PER_MINUTE": "0", "USAGEBOOK_REDIS_URL": ""}
        server = UsagebookServer(env, RESULTS / "hotpath-server.log",
                                 args=("--workers", str(workers)))
        server.start(timeout=60)
        try:
            assert server.process is not None
            yield server.base_url, server.process.pid
        finally:
            server.stop()

    return serving()


def _wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _history_cursor_url(base: str, auth: dict[str, str]) -> str:
    """A continuation page of 500, a few pages into the walk (the cursor stays valid 24 h)."""
    params: dict[str, Any] = {"pageSize": 500}
    for _ in range(3):
        answer = httpx.get(base + HISTORY, params=params, headers=auth, timeout=60)
        answer.raise_for_status()
        params = {"cursor": answer.json()["nextCursor"]}
    return f"{HISTORY}?cursor={params['cursor']}"


def _profiled(url: str, headers: dict[str, str], server_pid: int, backend: str,
              name: str) -> list[tuple[str, float]]:
    """py-spy on one worker while wrk loads the endpoint."""
    loader = threading.Thread(target=run_wrk, kwargs={
        "url": url, "connections": CLIENTS, "seconds": 7, "headers": headers,
        "server_pid": None})
    loader.start()
    try:
        busiest = _busiest(process_tree(server_pid))  # a worker, not uvicorn's supervisor
        return profile(busiest, 4, RESULTS / f"hotpath-profile-{backend}-{name}")
    finally:
        loader.join()


def _busiest(pids: list[int]) -> int:
    before = {pid: tree_cpu([pid]) for pid in pids}
    time.sleep(1.0)
    return max(pids, key=lambda pid: tree_cpu([pid]) - before[pid])


if __name__ == "__main__":
    main()

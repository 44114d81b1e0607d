"""Benchmark: what the metering gateway adds in front of a fast OpenAI-compatible upstream.

    .venv/bin/python -m bench.gateway [--requests 300] [--concurrency 16] [--seconds 10]

Three real processes on loopback: the fake upstream of the tests (tests/support/fake_upstream.py,
answering at once), `usagebook serve` as the ledger on PostgreSQL (a fresh database
`usagebook_gateway_bench`, dropped afterwards) and `usagebook gateway`; the client is httpx in
this process. Every figure is measured the same way direct to the upstream and through the
gateway, in alternating blocks (ABAB), so that both meet the same neighbours:

- plain chat completions, one at a time: latency p50/p99, and the gateway's added latency;
- the same with `--concurrency` clients in a closed loop for `--seconds`: requests per second;
- streams of 20 chunks 10 ms apart, one at a time: time to first token and the gaps between
  chunks as the client sees them; streams without delay under concurrency: requests per second;
- the ledger's authorize round trip alone (what the gateway waits for before forwarding).

At the end every request answered through the gateway must be in the ledger (2 entries each);
the time the queue took to drain after the last answer is reported. Figures go to
docs/performance.md, section "Gateway".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx

from bench._proc import cpu_seconds
from tests.support.servers import GatewayServer, UsagebookServer, _wait_for_port, free_port
from usagebook.ledger.accounts import create_account
from usagebook.ledger.balances import grant_credit
from usagebook.ledger.catalog import DEMO_CATALOG, upsert_catalog
from usagebook.ledger.keys import KeyType, create_key
from usagebook.settings import Settings
from usagebook.store.engine import create_database
from usagebook.store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
SERVER = "postgresql://127.0.0.1:5432"
DATABASE = "usagebook_gateway_bench"
OPERATOR_TOKEN = "gateway-bench-" + secrets.token_hex(16)
SECRET_KEY = "gateway-bench-secret-" + secrets.token_hex(16)
MODEL = "llama-3.3-70b"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 64}
Call = Callable[[httpx.AsyncClient], Awaitable[None]]
answered: dict[str, int] = {}  # requests answered 2xx, by base URL
refused: dict[str, list[int]] = {}  # statuses of the others, by base URL


def _count(base: str, answer: httpx.Response) -> None:
    if answer.is_success:
        answered[base] = answered.get(base, 0) + 1
    else:
        refused.setdefault(base, []).append(answer.status_code)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{SERVER}/test")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def prepare() -> tuple[str, str]:
    """A fresh ledger database: catalog, one account with credit; its INFERENCE and ADMIN
    secrets."""
    await _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{DATABASE}"')
    settings = Settings.from_env({}, database_url=f"{SERVER}/{DATABASE}", secret_key=SECRET_KEY)
    await asyncio.to_thread(upgrade, settings.database_url)
    db = create_database(settings)
    try:
        await upsert_catalog(db, DEMO_CATALOG)
        account = await create_account(db, "gateway bench")
        key = await create_key(db, account.id, KeyType.INFERENCE, "bench")
        admin = await create_key(db, account.id, KeyType.ADMIN, "admin")
        await grant_credit(db, account.id, "USD", "1000000", "bench")
    finally:
        await db.dispose()
    return key.secret, admin.secret


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def timed_sequence(client: httpx.AsyncClient, call: Call, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        await call(client)
        latencies.append(time.perf_counter() - start)
    return latencies


async def closed_loop(client: httpx.AsyncClient, call: Call, clients: int,
                      seconds: float) -> int:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call(client)
            done += 1

    await asyncio.gather(*(worker() for _ in range(clients)))
    return done


def plain_call(base: str, key: str) -> Call:
    async def call(client: httpx.AsyncClient) -> None:
        answer = await client.post(f"{base}/v1/chat/completions", json=CHAT,
                                   headers={"Authorization": f"Bearer {key}"})
        _count(base, answer)
    return call


def stream_call(base: str, key: str, fake: dict[str, object],
                marks: list[list[float]] | None = None) -> Call:
    """A streamed chat; with `marks`, the arrival time of each content chunk is noted."""
    async def call(client: httpx.AsyncClient) -> None:
        start = time.perf_counter()
        arrivals = [start]
        body = {**CHAT, "stream": True, "fake": fake}
        async with client.stream("POST", f"{base}/v1/chat/completions", json=body,
                                 headers={"Authorization": f"Bearer {key}"}) as answer:
            async for chunk in answer.aiter_raw():
                arrivals += [time.perf_counter()] * chunk.count(b'"content":"w')
        _count(base, answer)
        if marks is not None and answer.is_success:
            marks.append(arrivals)
    return call


def authorize_call(ledger: str, key: str) -> Call:
    """What the gateway asks the ledger before each request, asked directly."""
    body = {"apiKey": key, "holdSeconds": 1, "estimate": {"items": [
        {"sku": f"{MODEL}-llm-input-mtoken", "units": "0.000003"},
        {"sku": f"{MODEL}-llm-output-mtoken", "units": "0.000064"}]}}

    async def call(client: httpx.AsyncClient) -> None:
        answer = await client.post(f"{ledger}/api/v1/usage/authorize", json=body,
                                   headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
        _count(f"{ledger} authorize", answer)
    return call


async def alternate(rounds: int, direct: Callable[[], Awaitable[object]],
                    gateway: Callable[[], Awaitable[object]]) -> tuple[list[object], list[object]]:
    """ABAB: each side measured in `rounds` blocks, interleaved."""
    a: list[object] = []
    b: list[object] = []
    for _ in range(rounds):
        a.append(await direct())
        b.append(await gateway())
    return a, b


async def run(args: argparse.Namespace, upstream: str, gateway: str, ledger: str, key: str,
              admin: str) -> list[str]:
    lines = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        for base in (upstream, gateway):  # warm connections and code paths
            await timed_sequence(client, plain_call(base, key), 20)
        per_block = args.requests // 4
        a, b = await alternate(4, lambda: timed_sequence(client, plain_call(upstream, key),
                                                         per_block),
                               lambda: timed_sequence(client, plain_call(gateway, key),
                                                      per_block))
        direct = [x for block in a for x in block]  # type: ignore[attr-defined]
        through = [x for block in b for x in block]  # type: ignore[attr-defined]
        lines.append(_row("plain, one at a time", direct, through))

        authorize = await timed_sequence(client, authorize_call(ledger, key), per_block)
        lines.append(f"| the ledger's authorize alone, ms p50 / p99 | | "
                     f"{percentile(authorize, 0.5):.2f} / {percentile(authorize, 0.99):.2f} | |")

        marks_a: list[list[float]] = []
        marks_b: list[list[float]] = []
        slow = {"chunks": 20, "delay": 0.01}
        await alternate(
            4, lambda: timed_sequence(client, stream_call(upstream, key, slow, marks_a),
                                      args.streams // 4),
            lambda: timed_sequence(client, stream_call(gateway, key, slow, marks_b),
                                   args.streams // 4))
        lines += _stream_rows(marks_a, marks_b)

        for label, make in (("plain", lambda base: plain_call(base, key)),
                            ("streamed, 20 chunks", lambda base: stream_call(
                                base, key, {"chunks": 20}))):
            a, b = await alternate(
                2, lambda m=make: closed_loop(client, m(upstream), args.concurrency,
                                              args.seconds / 2),
                lambda m=make: closed_loop(client, m(gateway), args.concurrency,
                                           args.seconds / 2))
            direct_rate = sum(a) / args.seconds  # type: ignore[arg-type]
            gateway_rate = sum(b) / args.seconds  # type: ignore[arg-type]
            lines.append(f"| {label}, {args.concurrency} clients, req/s | {direct_rate:.0f} | "
                         f"{gateway_rate:.0f} | x{gateway_rate / direct_rate:.2f} |")
        granted = await closed_loop(client, authorize_call(ledger, key), args.concurrency,
                                    args.seconds / 2)
        lines.append(f"| the ledger's authorize alone, {args.concurrency} clients, req/s | | "
                     f"{granted / (args.seconds / 2):.0f} | |")
    return lines


def _row(label: str, direct: list[float], through: list[float]) -> str:
    d50, d99 = percentile(direct, 0.5), percentile(direct, 0.99)
    g50, g99 = percentile(through, 0.5), percentile(through, 0.99)
    return (f"| {label}, ms p50 / p99 | {d50:.2f} / {d99:.2f} | {g50:.2f} / {g99:.2f}"
            f" | +{g50 - d50:.2f} / +{g99 - d99:.2f} |")


def _stream_rows(direct: list[list[float]], through: list[list[float]]) -> list[str]:
    def first(marks: list[list[float]]) -> list[float]:
        return [m[1] - m[0] for m in marks]

    def gaps(marks: list[list[float]]) -> list[float]:
        return [m[i + 1] - m[i] for m in marks for i in range(1, len(m) - 1)]

    rows = [_row("stream, time to first token", first(direct), first(through)),
            _row("stream, gap between chunks (10 ms sent)", gaps(direct), gaps(through))]
    mean_d = sum(gaps(direct)) / len(gaps(direct)) * 1000
    mean_g = sum(gaps(through)) / len(gaps(through)) * 1000
    rows.append(f"| stream, mean gap between chunks, ms | {mean_d:.3f} | {mean_g:.3f} | "
                f"+{mean_g - mean_d:.3f} |")
    return rows


async def wait_recorded(ledger: str, admin: str, expected: int, since: float) -> str:
    async with httpx.AsyncClient(timeout=30) as client:
        while True:
            answer = await client.get(f"{ledger}/api/v1/billing/usage", params={"limit": 1},
                                      headers={"Authorization": f"Bearer {admin}"})
            total = int(answer.headers["x-pagination-total"])
            if total >= expected or time.perf_counter() - since > 120:
                return (f"{total} entries in the ledger for {expected // 2} requests answered "
                        f"through the gateway ({'all' if total == expected else 'NOT all'}), "
                        f"{time.perf_counter() - since:.1f} s after the last answer")
            await asyncio.sleep(0.2)


async def main(args: argparse.Namespace) -> int:
    key, admin = await prepare()
    work = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    port = free_port()
    upstream = subprocess.Popen([sys.executable, "-m", "tests.support.fake_upstream", "--port",
                                 str(port)], cwd=ROOT)
    ledger = UsagebookServer({"USAGEBOOK_DATABASE_URL": f"{SERVER}/{DATABASE}",
                              "USAGEBOOK_OPERATOR_TOKEN": OPERATOR_TOKEN,
                              "USAGEBOOK_SECRET_KEY": SECRET_KEY,
                              "USAGEBOOK_RATE_LIMIT_PER_MINUTE": "0"}, work / "ledger.log")
    gateway = GatewayServer({"USAGEBOOK_OPERATOR_TOKEN": OPERATOR_TOKEN}, work / "gateway.log",
                            ("--upstream", f"http://127.0.0.1:{port}", "--ledger",
                             ledger.base_url, "--queue", str(work / "queue.db")))
    try:
        _wait_for_port(port)
        ledger.start()
        gateway.start()
        lines = ["| measure | direct | through the gateway | difference |",
                 "|---|---:|---:|---:|"]
        assert gateway.process is not None and ledger.process is not None
        cpu_before = cpu_seconds(gateway.process.pid), cpu_seconds(upstream.pid)
        lines += await run(args, f"http://127.0.0.1:{port}", gateway.base_url,
                           ledger.base_url, key, admin)
        gateway_cpu = cpu_seconds(gateway.process.pid) - cpu_before[0]
        upstream_cpu = cpu_seconds(upstream.pid) - cpu_before[1]
        direct_answers = answered[f"http://127.0.0.1:{port}"] - 20
        lines.append(f"| CPU per request: fake upstream (all its requests) / gateway, ms | "
                     f"{upstream_cpu / (direct_answers + answered[gateway.base_url]) * 1000:.2f}"
                     f" | {gateway_cpu / answered[gateway.base_url] * 1000:.2f} | |")
        done = time.perf_counter()
        lines.append("")
        lines.append(await wait_recorded(ledger.base_url, admin,
                                         2 * answered[gateway.base_url], done))
        complaints = sum(1 for line in gateway.log_path.read_text().splitlines()
                         if '"level":"warning"' in line or '"level":"error"' in line)
        lines.append(f"Refused answers: {refused or 'none'}; gateway warnings and errors logged: "
                     f"{complaints}. Load average (1 min) at the end: {os.getloadavg()[0]:.1f} "
                     f"on {os.cpu_count()} cores.")
        print("\n".join(lines))
        return 0
    finally:
        gateway.stop()
        ledger.stop()
        upstream.terminate()
        upstream.wait(timeout=10)
        await _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="plain, one at a time")
    parser.add_argument("--streams", type=int, default=80, help="slow streams, one at a time")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="per closed-loop measure")
    sys.exit(asyncio.run(main(parser.parse_args())))

"""Load, CPU and profiles for the hot-path benchmark: wrk (a C load generator, Debian's `wrk`)
against servers on loopback, their CPU from /proc, and py-spy's view of a worker under load.

wrk, not a Python client: the trivial endpoint answers tens of thousands of requests a second,
which a Python client on the same two cores could not send without becoming what is measured.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench._proc import cpu_seconds

PY_SPY = Path(sys.executable).with_name("py-spy")


@dataclass(frozen=True)
class Load:
    """One wrk run: requests answered per second, mean latency, server CPU per request."""

    requests: int
    seconds: float
    latency_ms: float
    cpu_ms: float  # server CPU (user + system, all its processes) per request
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


INSTALL = "bench/install-tools installs it (make bench runs it)"


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit(f"FAILED: bench/hotpath.py needs wrk: {INSTALL}")
    return found


def require_py_spy() -> Path:
    if not PY_SPY.exists():
        raise SystemExit(f"FAILED: bench/hotpath.py needs py-spy in .venv: {INSTALL}")
    return PY_SPY


def process_tree(pid: int) -> list[int]:
    """A server and its worker processes (uvicorn --workers N forks children)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = [pid]
    for child in children.read_text().split() if children.exists() else []:
        found += process_tree(int(child))
    return found


def tree_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # a process that ended
            total += cpu_seconds(pid)
    return total


def run_wrk(url: str, *, connections: int, seconds: float, headers: dict[str, str],
            server_pid: int | None) -> Load:
    """`connections` keep-alive clients on one wrk thread for `seconds`."""
    command = [require_wrk(), "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    pids = process_tree(server_pid) if server_pid else []
    cpu_before = tree_cpu(pids)
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True,
                            timeout=seconds + 30).stdout
    cpu = tree_cpu(pids) - cpu_before
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = _non_2xx(output)
    return Load(requests, _duration(output), _latency_ms(output),
                cpu / requests * 1000 if requests and pids else 0.0, errors)


def _duration(output: str) -> float:
    match = re.search(r"requests in ([\d.]+)(ms|s|m)", output)
    assert match is not None, output
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def _latency_ms(output: str) -> float:
    match = re.search(r"Latency\s+([\d.]+)(us|ms|s)", output)
    assert match is not None, output
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def _non_2xx(output: str) -> int:
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = int(match.group(1)) if match else 0
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    return errors + (sum(int(g) for g in socket.groups()) if socket else 0)


def profile(pid: int, seconds: float, out: Path) -> list[tuple[str, float]]:
    """py-spy samples of one process for `seconds` (call while it is under load); returns the
    top frames by own time, as (frame, share of samples)."""
    raw = out.with_suffix(".txt")
    subprocess.run([str(require_py_spy()), "record", "--pid", str(pid),
                    "--duration", f"{seconds:g}",
                    "--rate", "200", "--format", "raw", "--output", str(raw), "--nonblocking"],
                   capture_output=True, check=True, timeout=seconds + 60)
    return top_frames(raw.read_text())


def top_frames(collapsed: str, count: int = 12) -> list[tuple[str, float]]:
    """Own-time shares of the leaf frames of py-spy's collapsed stacks, idle frames removed."""
    own: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        leaf = stack.split(";")[-1]
        if _idle(stack, leaf):
            continue
        own[_short(leaf)] += int(samples)
    total = sum(own.values()) or 1
    return [(frame, n / total) for frame, n in own.most_common(count)]


# Threads blocked in a C call py-spy does not see as idle: a pool thread or aiosqlite's thread
# waiting on its queue (their loop function is then the leaf), uvicorn's pipe to its supervisor.
_WAITING_LEAVES = ("_worker (concurrent/futures/thread.py:",
                   "_connection_worker_thread (aiosqlite/",
                   "Connection._recv (multiprocessing/connection.py:")


def _idle(stack: str, leaf: str) -> bool:
    # The event loop waiting in epoll, and pool threads waiting for work, are not work.
    waiting_thread = "_worker (concurrent" in stack and "wait" in leaf
    return ("select (selectors.py" in leaf or waiting_thread or "run_forever" in leaf
            or leaf.startswith(_WAITING_LEAVES))


def _short(frame: str) -> str:
    # "fetch (asyncpg/connection.py:690)" -> drop the site-packages prefix and line number
    frame = re.sub(r"\(.*?(site-packages/|lib/python3\.\d+/)", "(", frame)
    return re.sub(r":\d+\)$", ")", frame)


def wait_quiet(seconds: float = 1.0) -> None:
    """A short pause between runs, so one run's tail does not land in the next one's CPU."""
    time.sleep(seconds)


def load_average() -> float:
    return os.getloadavg()[0]

"""Real servers started by tests and benchmarks: a scratch PostgreSQL, a scratch Redis, and
usagebook itself under uvicorn. Each one runs on a free port of its own, so stopping or killing
it never touches the shared servers on 5432 and 6379."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path

import httpx

PG_USER = "postgres"  # initdb and postgres refuse to run as root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_pg_user(*command: str) -> list[str]:
    return ["runuser", "-u", PG_USER, "--", *command] if os.geteuid() == 0 else list(command)


def _pg_bin(name: str) -> str:
    found = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is required for the fault tests")
    return found[-1]


class ScratchPostgres:
    """A throwaway PostgreSQL cluster in a temp dir, trust auth, on a free port."""

    def __init__(self) -> None:
        # Under root the cluster runs as `postgres`, which must reach the directory: /tmp, not a
        # TMPDIR that may sit inside root's home. Short, too: the socket path has a length limit.
        as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="usagebook-pg-", dir="/tmp" if as_root else None))
        self.data = self.dir / "data"
        self.port = free_port()
        self.running = False
        if as_root:
            shutil.chown(self.dir, PG_USER, PG_USER)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", PG_USER, "--no-sync",
                  "-E", "UTF8")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "usagebook")

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/usagebook"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(_as_pg_user(_pg_bin(tool), *args), check=True, capture_output=True,
                       cwd=self.dir, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"),
                  "-w", "start")
        self.running = True

    def stop(self) -> None:
        """A fast shutdown: running transactions are rolled back, connections are cut."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.running = False

    def ensure_running(self) -> None:
        """Start again if a test stopped it and failed before starting it."""
        if not self.running:
            self.start()

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class ScratchStandby(ScratchPostgres):
    """A streaming-replication hot standby of a ScratchPostgres, on a free port of its own."""

    def __init__(self, primary: ScratchPostgres) -> None:
        as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="usagebook-pgs-", dir="/tmp" if as_root else None))
        self.data = self.dir / "data"
        self.port = free_port()
        self.running = False
        if as_root:
            shutil.chown(self.dir, PG_USER, PG_USER)
        # -R writes primary_conninfo and standby.signal; -X stream copies the WAL it needs.
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", PG_USER,
                  "-D", str(self.data), "-R", "-X", "stream", "-c", "fast", "--no-sync")
        self.start()


class ScratchRedis:
    """A throwaway redis-server (no persistence) on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def _wait_for_port(port: int, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {seconds} s")


@dataclass
class UsagebookServer:
    """`usagebook serve` in a subprocess (migrating first, as it does in production), with its
    JSON log written to a file that tests can read."""

    env: dict[str, str]
    log_path: Path
    args: tuple[str, ...] = ()  # more `serve` options, e.g. ("--workers", "2")
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-c", "from usagebook.cli import main; main()", "serve",
                "--host", "127.0.0.1", "--port", str(self.port), *self.args]

    def start(self, timeout: float = 60) -> None:
        command = self.command()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env={**os.environ, **self.env},
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{command[3]} exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()  # not left running: its own test fails, not a later one with a warning
        raise RuntimeError(f"usagebook {command[3]} did not come up in {timeout} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing, nothing but what was already committed."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None


@dataclass
class GatewayServer(UsagebookServer):
    """`usagebook gateway` in a subprocess; `args` holds its options (--upstream, --ledger,
    --queue ...), `env` its environment (USAGEBOOK_OPERATOR_TOKEN ...)."""

    def command(self) -> list[str]:
        return [sys.executable, "-c", "from usagebook.cli import main; main()", "gateway",
                "--host", "127.0.0.1", "--port", str(self.port), *self.args]

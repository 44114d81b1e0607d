"""Real servers started by tests and benchmarks: a scratch PostgreSQL, a scratch Redis, and
usagebook itself under uvicorn. Each one runs on a free port of its own, so stopping or killing
it never touches the shared servers on 5432 and 6379."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port

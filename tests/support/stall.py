"""A database server that has stopped answering: a TCP listener that accepts connections and
never sends a byte (a stalled network, a hung host). Connections are held open until close().
And `bounded`, which fails a test whose call hangs instead of hanging the test."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar


class StalledListener:
    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def postgres_url(self) -> str:
        return f"postgresql://usagebook@127.0.0.1:{self.port}/usagebook"

    @property
    def accepted(self) -> int:
        return len(self._held)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._server.accept()
            except OSError:  # closed
                return
            self._held.append(connection)  # read nothing, answer nothing

    def close(self) -> None:
        self._closed.set()
        self._server.close()
        for connection in self._held:
            connection.close()


T = TypeVar("T")
BOUND_SECONDS = 15  # far above every timeout configured here: past it the call is a hang


def bounded(call: Callable[[], T], seconds: float = BOUND_SECONDS) -> T:
    """`call()`'s result; fails the test (instead of hanging it) if it takes over `seconds`."""
    outcome: list[Any] = []
    worker = threading.Thread(target=lambda: outcome.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still waiting after {seconds} s: a hang"
    assert outcome, "the call raised (see the thread's traceback above)"
    result: T = outcome[0]
    return result

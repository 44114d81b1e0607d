"""The server `usagebook serve` ships, tried over raw sockets: a request head over 16 KiB gets
the contract's 431 StandardError, 64 MiB of headers leave the server's memory flat, and clients
that send a request one byte every few seconds (or nothing at all) are dropped within 30 s."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.harness import OPERATOR_TOKEN, TEST_SECRET
from tests.support.servers import UsagebookServer

DROPPED_WITHIN = 30.0  # seconds, the bound
KIB = 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UsagebookServer]:
    folder = tmp_path_factory.mktemp("limits")
    env = {"USAGEBOOK_DATABASE_URL": f"sqlite:///{folder}/limits.db",
           "USAGEBOOK_SECRET_KEY": TEST_SECRET, "USAGEBOOK_OPERATOR_TOKEN": OPERATOR_TOKEN}
    started = UsagebookServer(env, folder / "server.log")
    started.start()
    yield started
    started.stop()


def connect(server: UsagebookServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def answer_of(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one answer (the server closes or sends a length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed without an answer: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers.get("content-length", "0")):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


def request_with_headers(
    server: UsagebookServer, header_bytes: int
) -> tuple[int, dict[str, str], bytes]:
    pad = "".join(f"x-pad-{n}: {'a' * 1000}\r\n" for n in range(header_bytes // 1012))
    with connect(server) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nhost: t\r\n{pad}\r\n".encode())
        return answer_of(sock)


def test_a_head_over_16_kib_is_a_431_standard_error(server: UsagebookServer) -> None:
    status, _, _ = request_with_headers(server, 14 * KIB)
    assert status == 200
    for size in (17 * KIB, 40 * KIB, 1024 * KIB):
        status, headers, body = request_with_headers(server, size)
        assert status == 431
        assert headers["content-type"] == "application/json"
        assert set(json.loads(body)) == {"error"}


def test_one_header_longer_than_16_kib_is_a_431(server: UsagebookServer) -> None:
    with connect(server) as sock:
        long_header = b"x-long: " + b"a" * 20 * KIB
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: t\r\n" + long_header + b"\r\n\r\n")
        assert answer_of(sock)[0] == 431


def rss_bytes(server: UsagebookServer) -> int:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * KIB


def flood(server: UsagebookServer, chunk: bytes, total: int) -> int:
    """Send `total` bytes of a request head in `chunk`s until the server closes; returns how
    many it took."""
    sent = 0
    with connect(server) as sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: t\r\n")
            while sent < total:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
    return sent


def test_64_mib_of_headers_leave_memory_flat(server: UsagebookServer) -> None:
    before = rss_bytes(server)
    lines = b"".join(b"x-pad-%d: %s\r\n" % (n, b"b" * 1000) for n in range(64))
    one_value = b"x-one: " + b"c" * 65536
    for chunk in (lines, one_value):
        sent = flood(server, chunk, 64 * 1024 * KIB)
        assert sent < 64 * 1024 * KIB  # the server stopped reading long before
    assert rss_bytes(server) - before < 8 * 1024 * KIB
    assert request_with_headers(server, 1 * KIB)[0] == 200


def closed(sock: socket.socket) -> bool:
    if not select.select([sock], [], [], 0)[0]:
        return False
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True


def test_slow_and_silent_clients_are_dropped_within_30_s(server: UsagebookServer) -> None:
    """One byte every 2 s of a request head, of a body, or nothing at all."""
    silent, slow_head, slow_body = connect(server), connect(server), connect(server)
    head = b"GET /healthz HTTP/1.1\r\nhost: t\r\n" + b"x-slow: " + b"s" * 100
    slow_body.sendall(b"POST /api/v1/usage/events HTTP/1.1\r\nhost: t\r\ncontent-type: "
                      b"application/json\r\ncontent-length: 1000\r\nauthorization: Bearer "
                      + OPERATOR_TOKEN.encode() + b"\r\n\r\n{")
    try:
        still_open = drip(slow_head, head, slow_body, [silent, slow_head, slow_body])
    finally:
        for sock in (silent, slow_head, slow_body):
            sock.close()
    assert not still_open, f"{still_open} still open after {DROPPED_WITHIN} s"
    assert request_with_headers(server, 1 * KIB)[0] == 200


def drip(slow_head: socket.socket, head: bytes, slow_body: socket.socket,
         open_: list[socket.socket]) -> int:
    """Sends one byte every 2 s on the slow sockets until every socket is closed by the
    server or DROPPED_WITHIN has passed; returns how many are still open."""
    started, sent = time.monotonic(), 0
    while open_ and time.monotonic() - started < DROPPED_WITHIN:
        for sock in (slow_head, slow_body):
            if sock in open_:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sock.send(head[sent % len(head):][:1] if sock is slow_head else b" ")
        sent += 1
        select.select(open_, [], [], 2.0)  # a byte every 2 s, or earlier if one closed
        open_ = [sock for sock in open_ if not closed(sock)]
    return len(open_)


def test_a_steady_client_keeps_its_connection(server: UsagebookServer) -> None:
    with connect(server) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n")
            assert answer_of(sock)[0] == 200

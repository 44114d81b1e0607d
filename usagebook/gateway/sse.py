"""Reading an upstream's server-sent events as they pass, to meter them.

The relay forwards whole events as soon as each is complete (a partial event is of no use to a
client), so metering adds no waiting. The tally keeps what the stream reported (`usage`, the
upstream's `id`) and what was delivered (content chunks), for the charge of a stream that ends
without usage or whose customer leaves.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from usagebook.gateway.usage import Kind, Usage, reported_usage

_BOUNDARY = re.compile(rb"\r?\n\r?\n")
DONE = b"[DONE]"


class StreamTally:
    def __init__(self, kind: str, relay_usage_chunk: bool) -> None:
        self.kind = kind
        # The gateway asks for the usage chunk; a customer who did not ask does not get it.
        self.relay_usage_chunk = relay_usage_chunk
        self.upstream_id: str | None = None
        self.reported: Usage | None = None
        self.content_chunks = 0
        self._pending = b""

    def split(self, chunk: bytes) -> list[tuple[bytes, bytes | None]]:
        """The complete events in the bytes seen so far: (raw event with its blank line,
        its data) pairs, data None for events without data (comments, keep-alives)."""
        self._pending += chunk
        events: list[tuple[bytes, bytes | None]] = []
        start = 0
        for boundary in _BOUNDARY.finditer(self._pending):
            raw = self._pending[start:boundary.end()]
            events.append((raw, _data(self._pending[start:boundary.start()])))
            start = boundary.end()
        self._pending = self._pending[start:]
        return events

    def rest(self) -> bytes:
        """Bytes after the last complete event (an upstream that ended mid-event)."""
        rest, self._pending = self._pending, b""
        return rest

    def read(self, data: bytes | None) -> tuple[bool, int]:
        """Reads one event's data: (whether the customer gets it, its content chunks).
        The caller adds the content chunks to `content_chunks` once the event is sent."""
        if data is None or data == DONE:
            return True, 0
        try:
            chunk: Any = orjson.loads(data)
        except orjson.JSONDecodeError:
            return True, 0  # not ours to judge: passed through unread
        if not isinstance(chunk, dict):
            return True, 0
        if isinstance(chunk.get("id"), str):
            self.upstream_id = chunk["id"]
        if (usage := reported_usage(chunk)) is not None:
            self.reported = usage
        choices = chunk.get("choices")
        if not choices:
            return self.relay_usage_chunk or usage is None, 0
        if not isinstance(choices, list):
            return True, 0
        return True, sum(1 for c in choices if isinstance(c, dict) and _content(c, self.kind))

    def usage(self, prompt_guess: int) -> Usage:
        """What to charge: the upstream's usage when it sent it, else the gateway's count."""
        if self.reported is not None:
            return self.reported
        return Usage(prompt_guess, self.content_chunks, counted=True)


def _data(event: bytes) -> bytes | None:
    lines = [line[5:].lstrip(b" ") for line in event.splitlines() if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


def _content(choice: dict[str, Any], kind: str) -> bool:
    if kind == Kind.CHAT:
        delta = choice.get("delta")
        return isinstance(delta, dict) and bool(delta.get("content"))
    return bool(choice.get("text"))

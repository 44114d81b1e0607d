"""Passing an upstream's server-sent events on byte for byte, reading them on the side to meter.

`feed` answers, for each chunk the upstream sends, the bytes to forward at once: every byte as
it arrives, a partial event included, so the gateway adds no buffering. The one exception is
the usage chunk the gateway asked for on behalf of a customer who did not (`choices: []` with
`usage`; clients that read `choices[0]` would break on it): then an event is held only until
its bytes show a choice (`"choices": [{...`, which every server sends before the content), and
an event that ends without one is forwarded whole, or dropped when it is that usage chunk.
Meanwhile each complete event is parsed: the tally keeps what the stream reported (`usage`,
the upstream's `id`) and what was delivered (content chunks), for the charge of a stream that
ends without usage or whose customer leaves. The bytes that complete the `[DONE]` event come
apart from the rest, so that the usage is queued before the customer has the whole stream.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from usagebook.gateway.usage import Kind, Usage, reported_usage

_BOUNDARY = re.compile(rb"\r?\n\r?\n")
_HAS_CHOICE = re.compile(rb'"choices"\s*:\s*\[\s*[^\s\]]')
DONE = b"[DONE]"
Passage = tuple[bytes, bool]  # bytes to forward, and whether they complete the [DONE] event


class StreamTally:
    def __init__(self, kind: str, relay_usage_chunk: bool) -> None:
        self.kind = kind
        # The gateway asks for the usage chunk; a customer who did not ask does not get it.
        self.relay_usage_chunk = relay_usage_chunk
        self.upstream_id: str | None = None
        self.reported: Usage | None = None
        self.content_chunks = 0
        self._event = b""  # the bytes of the event under way (not complete yet)
        self._sent = 0  # how many of them the customer already has

    def feed(self, chunk: bytes) -> list[Passage]:
        """What to forward now, in order, for these upstream bytes; reads each event they
        complete (the tally counts its content chunks once its last byte is passed on)."""
        out: list[Passage] = []
        buffer = self._event + chunk
        start = 0
        for boundary in _BOUNDARY.finditer(buffer):
            data = _data(buffer[start:boundary.start()])
            keep, contents = self.read(data)
            if keep or self._sent:  # an event already begun is always finished
                self.content_chunks += contents
                _add(out, buffer[start + self._sent:boundary.end()], data == DONE)
            start, self._sent = boundary.end(), 0
        self._event = buffer[start:]
        if self._event and (self.relay_usage_chunk or self._sent
                            or _HAS_CHOICE.search(self._event)):
            _add(out, self._event[self._sent:], False)
            self._sent = len(self._event)
        return out

    def rest(self) -> bytes:
        """Bytes of an event the upstream never finished that the customer has not had."""
        rest = self._event[self._sent:]
        self._event, self._sent = b"", 0
        return rest

    def read(self, data: bytes | None) -> tuple[bool, int]:
        """Reads one event's data: (whether the customer gets it, its content chunks)."""
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


def _add(out: list[Passage], data: bytes, done: bool) -> None:
    """Append to the passages, joining bytes that may go out together."""
    if not data:
        return
    if out and not done and not out[-1][1]:
        out[-1] = (out[-1][0] + data, False)
    else:
        out.append((data, done))

"""An OpenAI-compatible upstream for tests and benchmarks, speaking OpenAI's wire format:
chat and text completions (plain and streamed, with the usage chunk when asked), embeddings and
the model list. A request picks a behaviour with an extra body field `fake` (the openai
client's `extra_body`), which the gateway forwards like any other field:

    {"chunks": 5}            how many content chunks (default 5); tokens are 2 per chunk
    {"mode": "nousage"}      never report usage, streamed or not
    {"mode": "fail", "status": 500}   an OpenAI error body with that status
    {"delay": 0.05}          seconds between streamed chunks (slow mode)
    {"wait": 3}              seconds before answering at all (a stalled upstream)
    {"split": 1.0}           send each content event in two writes, cut inside its text,
                             that many seconds apart
    {"cached": 7}            report that many prompt tokens as cached

Every answer is noted in `served` by its id, with the usage it reported and the content chunks
it managed to send, so a test can reconcile the ledger with what the upstream really did.

`python -m tests.support.fake_upstream --port N` serves it alone (for bench/gateway.py).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn

from tests.support.asgi_peer import Peer, Scope, answer

_CONTENT_START = re.compile(rb'"(content|text)":"w')  # a content event's text, first letter


@dataclass
class Served:
    id: str
    path: str
    model: str
    stream: bool
    prompt_tokens: int
    completion_tokens: int  # what the answer would report (2 per content chunk)
    cached_tokens: int
    reported: bool  # whether usage was sent (or would have been, at the stream's end)
    chunks_sent: int = 0
    cancelled: bool = False
    authorization: str | None = None


def prompt_tokens(body: dict[str, Any]) -> int:
    """The fake's own tokenizer: 10 + one token per 3 characters of prompt text."""
    text = ""
    for message in body.get("messages") or []:
        text += str(message.get("content") or "")
    for key in ("prompt", "input"):
        value = body.get(key)
        text += value if isinstance(value, str) else "".join(map(str, value or []))
    return 10 + len(text) // 3


class FakeUpstream(Peer):
    def __init__(self) -> None:
        self.served: dict[str, Served] = {}
        self._ids = itertools.count(1)

    async def handle(self, scope: Scope, raw: bytes, receive: Any, send: Any) -> None:
        if scope["path"] == "/v1/models":
            await _json(send, 200, {"object": "list", "data": [
                {"id": "llama-3.3-70b", "object": "model", "created": 0, "owned_by": "fake"}]})
            return
        body = orjson.loads(raw)
        fake = body.get("fake") or {}
        if fake.get("wait"):
            await asyncio.sleep(float(fake["wait"]))
        if fake.get("mode") == "fail":
            await _json(send, fake.get("status", 500), {"error": {
                "message": "the fake upstream fails on request", "type": "server_error"}})
            return
        served = self._note(scope, body, fake)
        if scope["path"] == "/v1/embeddings":
            await _json(send, 200, self._embeddings(served))
        elif body.get("stream"):
            await self._stream(served, body, fake, receive, send)
        else:
            await _json(send, 200, self._plain(served, fake))

    def _note(self, scope: Scope, body: dict[str, Any], fake: dict[str, Any]) -> Served:
        chat = scope["path"] == "/v1/chat/completions"
        prefix = "chatcmpl" if chat else "cmpl" if scope["path"] == "/v1/completions" else "emb"
        chunks = 0 if prefix == "emb" else int(fake.get("chunks", 5))
        options = body.get("stream_options") or {}
        reported = fake.get("mode") != "nousage" and (
            not body.get("stream") or bool(options.get("include_usage")))
        auth = dict(scope["headers"]).get(b"authorization")
        served = Served(f"{prefix}-{next(self._ids)}", scope["path"], body["model"],
                        bool(body.get("stream")), prompt_tokens(body), 2 * chunks,
                        int(fake.get("cached", 0)), reported,
                        authorization=auth.decode() if auth else None)
        self.served[served.id] = served
        return served

    def _usage(self, served: Served) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "prompt_tokens": served.prompt_tokens, "completion_tokens": served.completion_tokens,
            "total_tokens": served.prompt_tokens + served.completion_tokens}
        if served.cached_tokens:
            usage["prompt_tokens_details"] = {"cached_tokens": served.cached_tokens}
        return usage

    def _plain(self, served: Served, fake: dict[str, Any]) -> dict[str, Any]:
        text = "".join(f"w{i} " for i in range(served.completion_tokens // 2))
        served.chunks_sent = served.completion_tokens // 2
        chat = served.path == "/v1/chat/completions"
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        answer: dict[str, Any] = {
            "id": served.id, "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()), "model": served.model, "choices": [choice]}
        if served.reported:
            answer["usage"] = self._usage(served)
        return answer

    def _embeddings(self, served: Served) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "object": "list", "model": served.model,
            "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5, 0.125]}]}
        if served.reported:
            answer["usage"] = {"prompt_tokens": served.prompt_tokens,
                               "total_tokens": served.prompt_tokens}
        return answer

    async def _stream(self, served: Served, body: dict[str, Any], fake: dict[str, Any],
                      receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        left = asyncio.create_task(_disconnected(receive))
        delay, split = float(fake.get("delay", 0)), float(fake.get("split", 0))
        try:
            for event in self._events(served):
                if left.done():
                    served.cancelled = True
                    return
                content = _CONTENT_START.search(event)
                if split and content:
                    await send({"type": "http.response.body", "body": event[:content.end()],
                                "more_body": True})
                    await asyncio.sleep(split)
                    event = event[content.end():]
                await send({"type": "http.response.body", "body": event, "more_body": True})
                if content:
                    served.chunks_sent += 1
                if delay:
                    await asyncio.sleep(delay)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            left.cancel()

    def _events(self, served: Served) -> list[bytes]:
        chat = served.path == "/v1/chat/completions"
        base = {"id": served.id, "object": "chat.completion.chunk" if chat else "text_completion",
                "created": int(time.time()), "model": served.model}
        chunks: list[dict[str, Any]] = []
        if chat:
            chunks.append({**base, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                       "content": ""}}]})
        for i in range(served.completion_tokens // 2):
            choice = {"index": 0, "delta": {"content": f"w{i} "}} if chat else \
                {"index": 0, "text": f"w{i} "}
            chunks.append({**base, "choices": [{**choice, "finish_reason": None}]})
        last: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        chunks.append({**base, "choices": [{**last, "delta": {}} if chat else {**last,
                                                                                  "text": ""}]})
        if served.reported:
            chunks.append({**base, "choices": [], "usage": self._usage(served)})
        return [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


async def _disconnected(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _json(send: Any, status: int, body: Any) -> None:
    await answer(send, status, orjson.dumps(body))


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(FakeUpstream(), host="127.0.0.1", port=args.port, log_level="warning",
                lifespan="off", access_log=False)


if __name__ == "__main__":
    main()

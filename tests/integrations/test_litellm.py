"""The LiteLLM callback, driven by LiteLLM itself: `litellm.completion` and `acompletion` call a
real local HTTP server speaking OpenAI's chat-completions format (the fake model backend), and
the callback records each completed call into a real `usagebook serve` through a Recorder."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of the cost map
import litellm

from tests.support.client import Ledger
from usagebook.client import Event, Recorder
from usagebook.integrations.litellm import UsagebookCallback

PROMPT_TOKENS, COMPLETION_TOKENS = 1234, 56
# LiteLLM's own models trip pydantic warnings when they are first built; they are not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Items? .* using the `ReadOnly` qualifier")


class FakeModel:
    """An OpenAI-compatible backend: every chat completion answers with fixed usage."""

    def __init__(self) -> None:
        self.calls = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_POST(handler) -> None:
                request = json.loads(handler.rfile.read(int(handler.headers["content-length"])))
                self.calls += 1
                body = json.dumps({
                    "id": "chatcmpl-fixed", "object": "chat.completion", "created": 1,
                    "model": request["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "Hello."}}],
                    "usage": {"prompt_tokens": PROMPT_TOKENS,
                              "completion_tokens": COMPLETION_TOKENS,
                              "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS},
                }).encode()
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"


class CountingRecorder(Recorder):
    """A Recorder that lets the test await the callback's events (LiteLLM runs success
    callbacks after the call returns, on its own threads)."""

    def __init__(self, *args: object, expected: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.expected, self.added = expected, []  # type: list[Event]
        self.all_added = threading.Event()

    def add(self, event: Event, timeout: float | None = None) -> None:
        super().add(event, timeout)
        self.added.append(event)
        if len(self.added) >= self.expected:
            self.all_added.set()


@pytest.fixture
def model() -> Iterator[FakeModel]:
    fake = FakeModel()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def callbacks() -> Iterator[list[UsagebookCallback]]:
    """The callbacks a test installs; afterwards removed from every list LiteLLM copied them
    into (it keeps its own sync and async lists), so no test sees another's recorder."""
    installed: list[UsagebookCallback] = []
    yield installed
    for callback in installed:
        litellm.logging_callback_manager.remove_callback_from_all_lists(callback)
    litellm.callbacks = []


def _install(callbacks: list[UsagebookCallback], recorder: Recorder) -> None:
    callbacks.append(UsagebookCallback(recorder))
    litellm.callbacks = list(callbacks)


def _entries(ledger: Ledger, request_ids: set[str]) -> list[tuple[str, str, Decimal]]:
    with ledger.client() as client:
        return sorted((e.request_id or "", e.sku, e.units) for e in client.history()
                      if e.request_id in request_ids)


def _check_recorded(ledger: Ledger, recorder: CountingRecorder) -> None:
    assert recorder.all_added.wait(60), recorder.added
    assert recorder.flush(timeout=60)
    call_ids = {event.request_id for event in recorder.added}
    assert len(call_ids) == 1  # both events of a call carry LiteLLM's call id
    (call_id,) = call_ids
    assert _entries(ledger, call_ids) == [
        (call_id, "llama-3.3-70b-llm-input-mtoken", Decimal("0.001234")),
        (call_id, "llama-3.3-70b-llm-output-mtoken", Decimal("0.000056")),
    ]
    assert all(e.prompt_tokens == PROMPT_TOKENS and e.completion_tokens == COMPLETION_TOKENS
               and e.api_key_id == ledger.inference_key_id for e in recorder.added)


def test_a_completed_call_is_recorded(ledger: Ledger, model: FakeModel,
                                      callbacks: list[UsagebookCallback]) -> None:
    with ledger.client() as client:
        recorder = CountingRecorder(client, expected=2, flush_seconds=0.05, flush_at_exit=False)
        _install(callbacks, recorder)
        answer = litellm.completion(
            model="openai/llama-3.3-70b", api_base=model.url, api_key="not-used",
            messages=[{"role": "user", "content": "Hi"}],
            metadata={"usagebook_api_key_id": ledger.inference_key_id})
        assert answer.choices[0].message.content == "Hello."
        _check_recorded(ledger, recorder)
        recorder.close()
    assert model.calls == 1


def test_an_async_call_is_recorded(ledger: Ledger, model: FakeModel,
                                   callbacks: list[UsagebookCallback]) -> None:
    with ledger.client() as client:
        recorder = CountingRecorder(client, expected=2, flush_seconds=0.05, flush_at_exit=False)
        _install(callbacks, recorder)

        async def call() -> None:
            await litellm.acompletion(
                model="openai/llama-3.3-70b", api_base=model.url, api_key="not-used",
                messages=[{"role": "user", "content": "Hi"}],
                metadata={"usagebook_api_key_id": ledger.inference_key_id})
            await asyncio.to_thread(recorder.all_added.wait, 60)

        asyncio.run(call())
        _check_recorded(ledger, recorder)
        recorder.close()


def test_a_call_without_a_key_is_not_billed(ledger: Ledger, model: FakeModel) -> None:
    with ledger.client() as client:
        recorder = Recorder(client, flush_at_exit=False)
        callback = UsagebookCallback(recorder)
        usage = {"prompt_tokens": 3, "completion_tokens": 4}
        assert callback.events_for({"litellm_call_id": "c1", "model": "openai/x"},
                                   {"usage": usage}, None, None) == []  # type: ignore[arg-type]
        both = {"usagebook_api_key_id": "key_a", "usagebook_account_id": "acct_b"}
        assert callback.events_for({"litellm_call_id": "c1", "model": "x",
                                    "litellm_params": {"metadata": both}},
                                   {"usage": usage}, None, None) == []  # type: ignore[arg-type]
        recorder.close()

"""A LiteLLM callback that records every completed call into usagebook.

    from usagebook.client import Recorder, UsagebookClient
    from usagebook.integrations.litellm import UsagebookCallback

    recorder = Recorder(UsagebookClient(LEDGER_URL, operator_token=TOKEN))
    litellm.callbacks = [UsagebookCallback(recorder)]
    litellm.completion(model="openai/llama-3.3-70b", messages=[...],
                       metadata={"usagebook_api_key_id": "key_..."})

Each completed call becomes an input and an output event (`<model>-llm-input-mtoken`,
`<model>-llm-output-mtoken`, units in millions of tokens) billed to the `usagebook_api_key_id`
(or `usagebook_account_id`) of the call's metadata, with LiteLLM's own call id as `requestId`:
LiteLLM may report a call more than once (sync and async hooks), and a repeat is a
`duplicate`, never a second charge. The events go through the recorder's queue, so the call
never waits for the ledger. A call without a key id or token counts is logged and skipped.
Needs the `litellm` package (not a dependency of usagebook).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from usagebook.client import Event, Recorder

log = logging.getLogger("usagebook.integrations.litellm")
MILLION = Decimal(1_000_000)


def catalog_model(model: str) -> str:
    """LiteLLM's `provider/model` names the catalog's model id after the provider."""
    return model.rsplit("/", 1)[-1]


class UsagebookCallback(CustomLogger):
    def __init__(self, recorder: Recorder, *,
                 model_id: Callable[[str], str] = catalog_model) -> None:
        super().__init__()
        self.recorder = recorder
        self.model_id = model_id

    def log_success_event(self, kwargs: dict[str, Any], response_obj: Any,
                          start_time: datetime, end_time: datetime) -> None:
        for event in self.events_for(kwargs, response_obj, start_time, end_time):
            self.recorder.add(event)

    async def async_log_success_event(self, kwargs: dict[str, Any], response_obj: Any,
                                      start_time: datetime, end_time: datetime) -> None:
        events = self.events_for(kwargs, response_obj, start_time, end_time)
        if events:  # a full queue waits in a thread, not on the event loop
            await asyncio.to_thread(self._add_all, events)

    def _add_all(self, events: list[Event]) -> None:
        for event in events:
            self.recorder.add(event)

    def events_for(self, kwargs: dict[str, Any], response_obj: Any, start_time: datetime,
                   end_time: datetime) -> list[Event]:
        """The events of one completed call (empty when it cannot be billed)."""
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        key_id, account_id = metadata.get("usagebook_api_key_id"), metadata.get(
            "usagebook_account_id")
        usage = _field(response_obj, "usage")
        call_id = kwargs.get("litellm_call_id")
        if (key_id is None) == (account_id is None) or usage is None or not call_id:
            log.warning("usagebook: a LiteLLM call was not recorded (call %s: needs exactly one "
                        "of usagebook_api_key_id / usagebook_account_id in metadata, and usage)",
                        call_id)
            return []
        prompt = int(_field(usage, "prompt_tokens") or 0)
        completion = int(_field(usage, "completion_tokens") or 0)
        model = self.model_id(str(kwargs.get("model") or _field(response_obj, "model")))
        common: dict[str, Any] = {
            "request_id": str(call_id), "api_key_id": key_id, "account_id": account_id,
            "prompt_tokens": prompt, "completion_tokens": completion,
            "inference_execution_time": _milliseconds(start_time, end_time),
        }
        return [Event(sku=f"{model}-llm-{kind}-mtoken", units=Decimal(tokens) / MILLION, **common)
                for kind, tokens in (("input", prompt), ("output", completion)) if tokens > 0]


def _field(value: Any, name: str) -> Any:
    # LiteLLM hands over its pydantic objects or plain dicts, depending on the path taken.
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def _milliseconds(start: Any, end: Any) -> int | None:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return max(0, round((end - start).total_seconds() * 1000))
    return None

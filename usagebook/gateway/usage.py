"""What a request will cost at most (the estimate) and what it did cost (its usage).

The gateway counts tokens itself only when the upstream does not say (no `usage` in its answer,
or a customer who left mid-stream). No installed package gives a model's tokenizer offline
(tiktoken downloads its BPE files at run time, and covers OpenAI's models only), so the count
is the documented fallback: one token per 4 characters of prompt text, one token per content
chunk delivered (per 4 characters of a non-streamed answer), flagged on the entry's notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4
COUNTED_NOTE = "usage counted by the gateway"


class Kind:
    """Which OpenAI endpoint a request went to: it decides the SKUs and where the prompt is."""

    CHAT = "chat"
    COMPLETION = "completion"
    EMBEDDING = "embedding"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    counted: bool = False  # True when the gateway counted (fallback), not the upstream


def prompt_tokens_guess(kind: str, body: dict[str, Any]) -> int:
    """Tokens of the prompt by the fallback rule (at least 1: every request reads something)."""
    if kind == Kind.CHAT:
        chars, tokens = _chat_chars(body.get("messages")), 0
    else:
        chars, tokens = _text_chars(body.get("input" if kind == Kind.EMBEDDING else "prompt"))
    return max(1, tokens + -(-chars // CHARS_PER_TOKEN))


def output_tokens_cap(body: dict[str, Any], cap: int) -> int:
    """The output part of an estimate: what the request allows, capped by the operator."""
    asked = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(asked, int) and not isinstance(asked, bool) and asked > 0:
        return min(asked, cap)
    return cap


def _chat_chars(messages: Any) -> int:
    if not isinstance(messages, list):
        return 0
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):  # content parts: count the text ones
            total += sum(len(part.get("text") or "") for part in content
                         if isinstance(part, dict) and isinstance(part.get("text"), str))
    return total


def _text_chars(value: Any) -> tuple[int, int]:
    """(characters of text, tokens given as token ids) of a prompt or an embedding input."""
    if isinstance(value, str):
        return len(value), 0
    if isinstance(value, list):
        chars = tokens = 0
        for item in value:
            if isinstance(item, int):
                tokens += 1
            else:
                more_chars, more_tokens = _text_chars(item)
                chars, tokens = chars + more_chars, tokens + more_tokens
        return chars, tokens
    return 0, 0


def reported_usage(answer: Any) -> Usage | None:
    """The upstream's own `usage` object, when it sent a sane one."""
    usage = answer.get("usage") if isinstance(answer, dict) else None
    if not isinstance(usage, dict):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens", 0))
    if prompt is None or completion is None:
        return None
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else None
    return Usage(prompt, completion, min(cached or 0, prompt))


def _count(value: Any) -> int | None:
    """A token count as the upstream sent it, if it is one."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def counted_answer_usage(kind: str, request: dict[str, Any], answer: Any) -> Usage:
    """The fallback count of a whole (non-streamed) answer that carried no usage."""
    chars = 0
    choices = answer.get("choices") if isinstance(answer, dict) else None
    for choice in choices if isinstance(choices, list) else []:
        if not isinstance(choice, dict):
            continue
        message = choice.get("message")
        text = message.get("content") if isinstance(message, dict) else choice.get("text")
        chars += len(text) if isinstance(text, str) else 0
    output = 0 if kind == Kind.EMBEDDING else -(-chars // CHARS_PER_TOKEN)
    return Usage(prompt_tokens_guess(kind, request), output, counted=True)

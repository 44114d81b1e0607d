"""The one reader of request bodies: read with a size cap, parsed as strict JSON with every
number an exact Decimal (`api.strict_json`; a float would turn 0.1 into 0.1000000000000000055...),
validated against a route's model with every problem named at once.

Every body is held to `Settings.max_body_bytes` by the request middleware; the management
routes (keys, webhooks, alerts), whose bodies are small objects, to `SMALL_BODY_BYTES`. Past
either: 413. A route reads its body itself, after its caller is known: a bad body from an
unknown caller is a 401, not a 400 telling them about the body."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from usagebook.api.middleware import BodyTooLarge
from usagebook.api.strict_json import NotStrictJson, decode_body, problem_of
from usagebook.errors import InvalidInput, ProblemCollector
from usagebook.plain_errors import add_errors

M = TypeVar("M", bound=BaseModel)
SMALL_BODY_BYTES = 64 * 1024


async def read_json(request: Request, max_bytes: int | None = None) -> Any:
    """The body as exact, strict JSON; InvalidInput when it is not strict JSON (`decode_body`).

    Every body is already held to `Settings.max_body_bytes` by the request middleware;
    `max_bytes` is for a route whose bodies must be smaller still (413 past it)."""
    declared = request.headers.get("content-length", "")
    if max_bytes is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if max_bytes is not None and len(body) > max_bytes:
            raise BodyTooLarge(max_bytes)
    try:
        return decode_body(bytes(body))
    except (NotStrictJson, RecursionError) as exc:  # not UTF-8, a key twice, not JSON...
        raise InvalidInput.single("", f"the request body {problem_of(exc)}") from None


def validate(model: type[M], data: Any, message: str = InvalidInput.DEFAULT_MESSAGE) -> M:
    """`data` as `model`, or InvalidInput naming every problem (`consumptionLimit.usd`)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = ProblemCollector()
        add_errors(problems, exc.errors())
        raise problems.error(message) from None


async def read_small(request: Request, model: type[M], message: str = InvalidInput.DEFAULT_MESSAGE
                     ) -> M:
    """A management route's body (at most SMALL_BODY_BYTES) as `model`."""
    return validate(model, await read_json(request, SMALL_BODY_BYTES), message)

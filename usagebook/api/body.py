"""Request bodies read with a size cap and parsed with every JSON number an exact Decimal (a
float would turn 0.1 into 0.1000000000000000055...)."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from usagebook.api.middleware import BodyTooLarge
from usagebook.api.strict_json import NotStrictJson, decode_body, problem_of
from usagebook.errors import InvalidInput, ProblemCollector
from usagebook.plain_errors import add_errors

M = TypeVar("M", bound=BaseModel)


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


def validate(model: type[M], data: Any) -> M:
    """`data` as `model`, or InvalidInput naming every problem (`consumptionLimit.usd`)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = ProblemCollector()
        add_errors(problems, exc.errors())
        raise InvalidInput(problems.problems) from None

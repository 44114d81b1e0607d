"""Request bodies read with a size cap and parsed with every JSON number an exact Decimal (a
float would turn 0.1 into 0.1000000000000000055...)."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from usagebook.errors import InvalidInput
from usagebook.ledger.events import NotStrictJson, decode_body
from usagebook.plain_errors import plain_message

M = TypeVar("M", bound=BaseModel)


async def read_json(request: Request, max_bytes: int, too_large: str) -> Any:
    """The body as exact, strict JSON; 413 (`too_large`) past `max_bytes`, InvalidInput when it
    is not strict JSON (`decode_body`)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(413, too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise HTTPException(413, too_large)
    try:
        return decode_body(bytes(body))
    except NotStrictJson as exc:  # names the problem: not UTF-8, a key twice, not JSON
        problem = str(exc)
    except RecursionError:
        problem = "nests too deep"
    raise InvalidInput.single("", f"the request body {problem}")


def validate(model: type[M], data: Any) -> M:
    """`data` as `model`, or InvalidInput naming every problem (`consumptionLimit.usd`)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems: dict[str, list[str]] = {}
        for error in exc.errors():
            path = ".".join(str(part) for part in error["loc"])
            problems.setdefault(path, []).append(plain_message(error))
        raise InvalidInput(problems) from None

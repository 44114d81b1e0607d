"""Each route's wire names for the ledger's field names (the mechanism: `usagebook.errors`).

A route declares, beside itself, how its clients spell the domain names its errors use:

    USAGE_FIELDS = {"start": "startDate", "end": "endDate"}

    @router.get("/usage")
    @wire_names(USAGE_FIELDS)
    async def get_usage(...): ...

and `usagebook.api.errors` shows every InvalidInput the route raises through that mapping.
A name the mapping does not hold is shown as it is (`currency`, `limit`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from starlette.requests import Request

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

_BY_ENDPOINT: dict[Callable[..., Any], Mapping[str, str]] = {}


def wire_names(names: Mapping[str, str]) -> Callable[[Endpoint], Endpoint]:
    """Declare the wire name of each domain field name the decorated route's errors use.
    Put it below the route decorator, so the route registers the declared function."""
    def declare(endpoint: Endpoint) -> Endpoint:
        _BY_ENDPOINT[endpoint] = names
        return endpoint
    return declare


def names_for(request: Request) -> Mapping[str, str]:
    """The names declared for the route that served `request` (none: an empty mapping)."""
    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    return _BY_ENDPOINT.get(endpoint, {}) if endpoint is not None else {}

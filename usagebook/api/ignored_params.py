"""Unknown query parameters are ignored, as Venice ignores them, and named in the
`x-usagebook-ignored-params` header (comma-separated), so a misspelt filter (`startDate` on
usage-history, which takes `startTimestamp`) is visible instead of silently doing nothing.

A route's known parameters are the query parameters its dependencies declare. A route that
reads a family of parameters itself (`tag.<key>=<value>`) names their prefix in its
`openapi_extra` under `QUERY_PREFIXES`, e.g. `openapi_extra={QUERY_PREFIXES: ["tag."]}`.
The dashboard's page and files are left out: the page keeps its own view in its URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.types import Scope

HEADER = b"x-usagebook-ignored-params"
QUERY_PREFIXES = "x-usagebook-query-prefixes"
_UNCHECKED_PATHS = frozenset({"/", "/static"})  # the dashboard page and its files

_CACHE_ATTRIBUTE = "_usagebook_known_query"


def ignored_params_header(scope: Scope) -> tuple[bytes, bytes] | None:
    """The header naming the query parameters that the matched route does not know, or None
    when there are none (or no route matched: a 404 has nothing to compare with)."""
    query = scope.get("query_string", b"")
    route = matched_route(scope) if query else None
    if route is None:
        return None
    known = _known(route)
    if known is None:
        return None
    names, prefixes = known
    ignored: dict[str, None] = {}  # first appearance order, each once
    for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name not in names and not name.startswith(prefixes):
            ignored[name] = None
    if not ignored:
        return None
    # Quoted: a name is client text; CR, LF or a comma must not reach the header as they are.
    return HEADER, ",".join(quote(name, safe="") for name in ignored).encode("latin-1")


def matched_route(scope: Scope) -> object | None:
    """FastAPI names its own routes in `scope["route"]`; a plain Starlette route (/openapi.json,
    /docs) leaves only its endpoint, matched here as the access log matches it."""
    route = scope.get("route")
    if route is None and (endpoint := scope.get("endpoint")) is not None:
        routes = getattr(scope.get("app"), "routes", ())
        route = next((r for r in routes if getattr(r, "endpoint", None) is endpoint), None)
    return route


def _known(route: object) -> tuple[frozenset[str], tuple[str, ...]] | None:
    # Worked out once per route and kept on it: routes do not change once the app serves.
    try:
        known: tuple[frozenset[str], tuple[str, ...]] | None = getattr(route, _CACHE_ATTRIBUTE)
    except AttributeError:
        known = _declared(route)
        setattr(route, _CACHE_ATTRIBUTE, known)
    return known


def _declared(route: object) -> tuple[frozenset[str], tuple[str, ...]] | None:
    if getattr(route, "path", None) in _UNCHECKED_PATHS:
        return None
    dependant = getattr(route, "dependant", None)
    if dependant is None:  # a plain Starlette route (/openapi.json, /docs): it takes none
        return frozenset(), ()
    names = frozenset(_query_names(dependant))
    extra = getattr(route, "openapi_extra", None) or {}
    return names, tuple(extra.get(QUERY_PREFIXES, ()))


def _query_names(dependant: Any) -> set[str]:
    """The query parameters a route and all its dependencies declare, by their wire name."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(param.alias for param in current.query_params)
        pending.extend(current.dependencies)
    return names

"""HEAD on every GET endpoint (found from the app's routes, so a new one is covered too)
answers as GET does, status and headers alike, without a body."""

from __future__ import annotations

from typing import Any

from starlette.routing import Mount, Route

from tests.support.harness import Harness, Tenant

# Headers that differ between any two answers, HEAD or not.
_PER_ANSWER = {"x-request-id", "date", "content-disposition", "x-next-cursor"}


def get_paths(harness: Harness) -> list[str]:
    """Every GET path the OpenAPI description lists, and the routes it does not describe."""
    app: Any = harness.client.app
    paths = [path for path, operations in app.openapi()["paths"].items() if "get" in operations]
    for route in app.routes:
        if isinstance(route, Route) and "GET" in (route.methods or ()):
            paths.append(route.path)
        elif isinstance(route, Mount):
            paths.append(route.path + "/app.js")
    return [path.replace("{", "").replace("}", "") for path in paths]  # path params: a 404


def headers_of(answer: Any) -> dict[str, str]:
    return {k: v for k, v in answer.headers.items() if k not in _PER_ANSWER}


def test_head_answers_as_get_without_a_body(harness: Harness, tenant: Tenant) -> None:
    paths = get_paths(harness)
    assert {"/api/v1/billing/usage", "/readyz", "/docs", "/static/app.js"} <= set(paths)
    for path in paths:
        for headers in ({}, tenant.admin, {**tenant.admin, "accept": "text/csv"}):
            get = harness.client.get(path, headers=headers)
            head = harness.client.head(path, headers=headers)
            assert (path, head.status_code) == (path, get.status_code)
            assert head.content == b""
            if path != "/metrics":  # its body grows between the two requests
                assert headers_of(head) == headers_of(get), path


def test_head_on_a_post_only_route_is_not_allowed(harness: Harness) -> None:
    assert harness.client.head("/api/v1/usage/events").status_code == 405

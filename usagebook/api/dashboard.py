"""The dashboard: static pages at `/` (usage), `/explore` (spend over time in any zone) and
`/manage` (keys and webhooks) and their files
under `/static`, served by the same app.

The page holds no business logic: it reads the customer API with the key the visitor pastes
(kept in the browser's session storage only). A strict Content-Security-Policy keeps it to
its own origin: no CDN, no inline script.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).resolve().parent.parent / "dashboard" / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _Static(StaticFiles):
    """The page's files, revalidated on each load so an upgrade is never half-applied."""

    def file_response(self, full_path: str | PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update({**SECURITY_HEADERS, "Cache-Control": "no-cache"})
        return response


def install_dashboard(app: FastAPI) -> None:
    """Serve the usage page at `/`, keys and webhooks at `/manage`, assets at `/static/...`."""

    def page(name: str) -> FileResponse:
        return FileResponse(STATIC / name, media_type="text/html; charset=utf-8",
                            headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return page("index.html")

    @app.get("/manage", include_in_schema=False)
    async def manage() -> FileResponse:
        return page("manage.html")

    @app.get("/explore", include_in_schema=False)
    async def explore() -> FileResponse:
        return page("explore.html")

    app.mount("/static", _Static(directory=STATIC), name="dashboard")

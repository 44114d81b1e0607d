"""/docs: Swagger UI for /openapi.json, served entirely by this server.

FastAPI's own page loads Swagger UI from a CDN (a third party sees every visit, and a page that
runs third-party script can read what is typed into it, API keys included). Here the assets come
from the `fastapi-offline` package, which ships Swagger UI's files (Apache-2.0 licensed, under
their own copyright), and the page's Content-Security-Policy admits nothing but this origin:
the starting script is a file (no inline script); only styles may be inline, which Swagger UI's
components set.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

PAGE = Path(__file__).resolve().parent.parent / "docs_page"
ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
DOCS_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _Assets(StaticFiles):
    def file_response(self, full_path: str | PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(DOCS_HEADERS)
        return response


def install_docs(app: FastAPI) -> None:
    """Serve the page at /docs, its starting script, and Swagger UI's files at /docs/assets.
    The app must be made with `docs_url=None, redoc_url=None` (FastAPI's CDN pages)."""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(PAGE / "index.html", media_type="text/html; charset=utf-8",
                            headers=DOCS_HEADERS)

    @app.get("/docs/start.js", include_in_schema=False)
    async def start() -> FileResponse:
        return FileResponse(PAGE / "start.js", media_type="text/javascript; charset=utf-8",
                            headers=DOCS_HEADERS)

    app.mount("/docs/assets", _Assets(directory=ASSETS), name="docs-assets")

"""/docs loads nothing from a third-party origin: the page, its script and Swagger UI's files
all come from this server (the fastapi-offline package), under a Content-Security-Policy that
admits only this origin."""

from __future__ import annotations

import re

from tests.support.harness import Harness

REFERENCE = re.compile(r'(?:src|href)="([^"]+)"')


def test_docs_and_every_file_it_loads_come_from_this_server(harness: Harness) -> None:
    page = harness.client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "http://" not in page.text and "https://" not in page.text and "//" not in page.text
    references = REFERENCE.findall(page.text)
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css",
            "/docs/start.js"} <= set(references)
    for reference in references:
        loaded = harness.client.get(reference)
        assert loaded.status_code == 200, reference
        assert loaded.headers["content-security-policy"] == page.headers["content-security-policy"]
    bundle = harness.client.get("/docs/assets/swagger-ui-bundle.js")
    assert len(bundle.content) > 500_000 and b"SwaggerUIBundle" in bundle.content
    assert b"/openapi.json" in harness.client.get("/docs/start.js").content
    assert "<script>" not in page.text  # no inline script: the CSP can forbid it


def test_the_docs_page_policy_admits_only_this_origin(harness: Harness) -> None:
    policy = harness.client.get("/docs").headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'" and directives["object-src"] == "'none'"
    sources = " ".join(directives.values()).split()
    assert all(source in {"'self'", "'none'", "'unsafe-inline'", "data:"} for source in sources)
    assert "'unsafe-inline'" not in directives["script-src"]


def test_the_cdn_pages_are_gone(harness: Harness) -> None:
    assert harness.client.get("/redoc").status_code == 404
    assert harness.client.get("/docs/oauth2-redirect").status_code == 404

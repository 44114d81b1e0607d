"""/docs in a real browser: Swagger UI renders the API's operations from this server alone,
with no request to another origin and no Content-Security-Policy violation."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Browser

from tests.support.browser import Site


def test_docs_renders_every_operation_from_this_origin(browser: Browser, site: Site) -> None:
    page = browser.new_page()
    requested: list[str] = []
    violations: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(site.base_url + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/billing/usage" in path for path in paths)
    origin = urlsplit(site.base_url).netloc
    assert {urlsplit(url).netloc for url in requested if url.startswith("http")} == {origin}
    assert not violations
    page.close()

"""The page and everything it loads come from the server itself (no CDN), under a strict
Content-Security-Policy, and the vendored chart library is the pinned, licensed npm build."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx

from tests.support.browser import Site
from usagebook.api.dashboard import STATIC

VENDOR = STATIC / "vendor" / "chartjs"


def test_the_page_loads_only_its_own_files(site: Site) -> None:
    page = httpx.get(site.base_url + "/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/static/vendor/chartjs/chart.umd.js" in assets
    for asset in assets:
        assert not asset.startswith(("http:", "https:", "//")), asset
        if asset.startswith("/static/"):
            answer = httpx.get(site.base_url + asset, timeout=10)
            assert answer.status_code == 200, asset
            assert answer.content == (STATIC / asset.removeprefix("/static/")).read_bytes()


def test_the_vendored_chart_library_is_the_pinned_build_with_its_licence() -> None:
    note = (VENDOR / "VERSION.md").read_text()
    digest = re.search(r"sha256 `([0-9a-f]{64})`", note)
    assert digest is not None
    assert hashlib.sha256((VENDOR / "chart.umd.js").read_bytes()).hexdigest() == digest[1]
    assert "Chart.js v4.4.7" in (VENDOR / "chart.umd.js").read_text()[:200]
    assert "MIT License" in (VENDOR / "LICENSE.md").read_text()
    assert Path(STATIC / "index.html").exists()

"""What the browser suites share: the site (a real server with the demo's entries), tabs of
Debian's Chromium, signing in, waiting for the panels, screenshots."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = os.environ.get("USAGEBOOK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).parents[1] / "browser" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
DEMO_ENTRIES = 2000


@dataclass
class Site:
    """The running server and the demo account's keys, plus an account without usage."""

    base_url: str
    database_url: str
    account_id: str
    admin_key: str
    inference_key: str
    empty_admin_key: str

    def api(self, path: str, accept: str = "application/json", **params: Any) -> httpx.Response:
        answer = httpx.get(f"{self.base_url}/api/v1/billing{path}", params=params, timeout=30,
                           headers={"Authorization": f"Bearer {self.admin_key}",
                                    "Accept": accept})
        assert answer.status_code == 200, answer.text
        return answer

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", "from usagebook.cli import main; main()", *args,
             "--database-url", self.database_url],
            capture_output=True, check=True, timeout=120)
        return done.stdout.decode()


@dataclass
class Tab:
    """A page and every console error or uncaught exception it produced."""

    page: Page
    errors: list[str]


def open_tab(browser: Browser, viewport: dict[str, int]) -> tuple[BrowserContext, Tab]:
    context = browser.new_context(viewport=viewport, accept_downloads=True)  # type: ignore[arg-type]
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return context, Tab(page, errors)


def sign_in(tab: Tab, site: Site, key: str | None = None) -> Page:
    page = tab.page
    page.goto(site.base_url + "/")
    page.get_by_label("ADMIN API key").fill(key or site.admin_key)
    page.get_by_role("button", name="Show my usage").click()
    return page


def wait_until_loaded(page: Page) -> None:
    for panel in ("spend", "balances", "daily", "models", "keys", "entries"):
        page.wait_for_selector(f"#{panel}-panel:not([data-state=loading])", timeout=20_000)


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

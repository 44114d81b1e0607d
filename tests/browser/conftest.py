"""A real usagebook server on a free loopback port, with the demo's 2,000 entries in a scratch
SQLite database, and Debian's Chromium driven headless by Playwright.

Chromium is required, never skipped: `make test` (and so `.ci/run`) installs it when missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.support.harness import OPERATOR_TOKEN
from tests.support.servers import UsagebookServer

CHROMIUM = os.environ.get("USAGEBOOK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).parent / "screenshots"
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


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{root / 'usagebook.db'}"
    env = {"USAGEBOOK_DATABASE_URL": url, "USAGEBOOK_RATE_LIMIT_PER_MINUTE": "0",
           "USAGEBOOK_OPERATOR_TOKEN": OPERATOR_TOKEN,
           # The keys page's tests register a receiver on this machine.
           "USAGEBOOK_WEBHOOK_ALLOW_PRIVATE": "true"}
    bare = Site("", url, "", "", "", "")
    demo = json.loads(bare.cli("demo", "--entries", str(DEMO_ENTRIES), "--json"))
    empty = json.loads(bare.cli("accounts", "create", "Nothing yet", "--json"))
    empty_key = json.loads(bare.cli("keys", "create", "--account", empty["id"], "--type",
                                    "ADMIN", "--json"))
    server = UsagebookServer(env=env, log_path=root / "server.log")
    server.start()
    try:
        yield Site(server.base_url, url, demo["accountId"], demo["adminKey"],
                   demo["inferenceKey"], empty_key["key"])
    finally:
        server.stop()


# Package, not session: sync_playwright keeps an event loop running in the main thread while it
# is open, and every later test calling asyncio.run (CLI, migrations, export) would then fail.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


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


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context, opened = open_tab(browser, DESKTOP)
    yield opened
    context.close()


@pytest.fixture
def phone_tab(browser: Browser) -> Iterator[Tab]:
    context, opened = open_tab(browser, PHONE)
    yield opened
    context.close()


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

"""A real usagebook server on a free loopback port, with the demo's 2,000 entries in a scratch
SQLite database, and Debian's Chromium driven headless by Playwright.

Chromium is required, never skipped: `make test` (and so `.ci/run`) installs it when missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DEMO_ENTRIES,
    DESKTOP,
    PHONE,
    Site,
    Tab,
    open_tab,
)
from tests.support.harness import OPERATOR_TOKEN
from tests.support.servers import UsagebookServer


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

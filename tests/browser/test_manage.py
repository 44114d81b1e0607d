"""The keys and webhooks page: create a key with a limit, see this period's use against it,
revoke it; add a webhook endpoint, pause it, rotate its secret, read its delivery log and
delete it. Every step goes through the real API of a real server."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.support.browser import Site, Tab, screenshot, sign_in, wait_until_loaded
from tests.support.harness import OPERATOR_TOKEN


def open_manage(tab: Tab, site: Site) -> Page:
    page = sign_in(tab, site)
    wait_until_loaded(page)
    page.get_by_role("link", name="Keys and webhooks").click()
    expect(page.locator("#api-keys-panel")).not_to_have_attribute("data-state", "loading")
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def admin_get(site: Site, path: str) -> Any:
    answer = httpx.get(f"{site.base_url}/api/v1{path}", timeout=30,
                       headers={"Authorization": f"Bearer {site.admin_key}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def key_row(page: Page, description: str) -> Any:
    return page.locator("#api-keys-table tbody tr", has_text=description)


def test_a_key_is_created_with_a_limit_shows_its_use_and_is_revoked(tab: Tab, site: Site) -> None:
    page = open_manage(tab, site)
    page.get_by_label("Description").first.fill("Team A limited")
    page.get_by_label("USD limit").fill("5")
    page.get_by_label("DIEM limit").fill("5")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key-secret")).to_be_visible()
    assert page.locator("#new-key-secret-text").inner_text().startswith("ubk_")
    row = key_row(page, "Team A limited")
    expect(row).to_contain_text("5 USD, 5 DIEM today (UTC)")
    expect(row).to_contain_text("0.0000 of 5")

    key_id = next(k["id"] for k in admin_get(site, "/api_keys")["data"]
                  if k["description"] == "Team A limited")
    recorded = httpx.post(f"{site.base_url}/api/v1/usage/events", timeout=30,
                          headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
                          json={"events": [{"requestId": "manage-page-1", "apiKeyId": key_id,
                                            "sku": "llama-3.3-70b-llm-input-mtoken",
                                            "units": "2"}]})
    assert recorded.status_code == 200, recorded.text
    page.reload()
    expect(key_row(page, "Team A limited")).to_contain_text("1.4000 of 5")
    assert tab.errors == []
    screenshot(page, "keys-1280x800")

    key_row(page, "Team A limited").get_by_role("button", name="Revoke").click()
    expect(key_row(page, "Team A limited")).to_have_count(0)
    assert key_id not in {k["id"] for k in admin_get(site, "/api_keys")["data"]}


def test_a_bad_limit_is_named_and_nothing_is_created(tab: Tab, site: Site) -> None:
    page = open_manage(tab, site)
    before = len(admin_get(site, "/api_keys")["data"])
    page.get_by_label("Description").first.fill("Bad limit")
    page.get_by_label("USD limit").fill("-3")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#key-create-error")).to_contain_text("consumptionLimit")
    assert len(admin_get(site, "/api_keys")["data"]) == before


def test_a_webhook_endpoint_is_managed_and_its_log_shown(tab: Tab, site: Site) -> None:
    page = open_manage(tab, site)
    form = page.locator("#webhook-create")
    form.get_by_label("URL").fill("http://127.0.0.1:9/hooks")
    form.get_by_label("Description").fill("Finance alerts")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("#new-webhook-secret-text")).to_contain_text("whsec_")
    row = page.locator("#webhooks-table tbody tr", has_text="Finance alerts")
    expect(row).to_contain_text("enabled")
    first_secret = page.locator("#new-webhook-secret-text").inner_text()

    row.get_by_role("button", name="Rotate the secret of http://127.0.0.1:9/hooks").click()
    expect(page.locator("#new-webhook-secret-text")).not_to_have_text(first_secret)
    row = page.locator("#webhooks-table tbody tr", has_text="Finance alerts")
    row.get_by_role("button", name="Disable http://127.0.0.1:9/hooks").click()
    expect(page.locator("#webhooks-table tbody tr", has_text="Finance alerts")).to_contain_text(
        "disabled")
    page.locator("#webhooks-table tbody tr", has_text="Finance alerts").get_by_role(
        "button", name="Deliveries to http://127.0.0.1:9/hooks").click()
    expect(page.locator("#deliveries-panel")).to_have_attribute("data-state", "empty")
    expect(page.locator("#deliveries-panel")).to_contain_text("No events sent")
    assert tab.errors == []

    page.locator("#webhooks-table tbody tr", has_text="Finance alerts").get_by_role(
        "button", name="Delete http://127.0.0.1:9/hooks").click()
    expect(page.locator("#webhooks-table tbody tr", has_text="Finance alerts")).to_have_count(0)


def fits(page: Page) -> None:
    widths = page.evaluate("({page: document.scrollingElement.scrollWidth, "
                           "viewport: window.innerWidth})")
    assert widths["page"] <= widths["viewport"], widths


def test_the_page_fits_a_desktop_and_a_phone(tab: Tab, phone_tab: Tab, site: Site) -> None:
    fits(open_manage(tab, site))
    page = open_manage(phone_tab, site)
    fits(page)
    screenshot(page, "keys-390x844")


def test_without_a_key_the_page_sends_the_visitor_to_sign_in(tab: Tab, site: Site) -> None:
    tab.page.goto(site.base_url + "/manage")
    expect(tab.page.locator("#signed-out")).to_be_visible()
    expect(tab.page.locator("#manage")).to_be_hidden()


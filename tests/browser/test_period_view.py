"""The usage page's period: the date pickers follow the 7/30/90-day buttons, the view is kept
in the URL (reload, share), the previous period is shown beside the current one, and a
negative balance is explained."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from playwright.sync_api import expect

from tests.support.browser import Site, Tab, sign_in, wait_until_loaded


def day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


def test_the_pickers_follow_the_buttons_and_the_url_keeps_the_view(tab: Tab, site: Site) -> None:
    page = sign_in(tab, site)
    wait_until_loaded(page)
    expect(page.locator("#range-start")).to_have_value(day(-6))
    page.get_by_role("button", name="30 days").click()
    expect(page.locator("#range-start")).to_have_value(day(-29))
    expect(page.locator("#range-end")).to_have_value(day(0))
    assert page.url.endswith("?days=30")
    page.reload()
    wait_until_loaded(page)
    expect(page.get_by_role("button", name="30 days")).to_have_attribute("aria-pressed", "true")

    page.get_by_label("From").fill(day(-40))
    page.get_by_label("to", exact=True).fill(day(-20))
    page.get_by_role("button", name="Apply range").click()
    expect(page.locator("#period-label")).to_contain_text(f"{day(-40)} to {day(-20)}")
    assert page.url.endswith(f"?start={day(-40)}&end={day(-20)}")
    shared = page.url
    other = tab.page.context.new_page()  # a new tab: sign in again, the view comes from the URL
    other.goto(shared)
    other.get_by_label("ADMIN API key").fill(site.admin_key)
    other.get_by_role("button", name="Show my usage").click()
    expect(other.locator("#period-label")).to_contain_text(f"{day(-40)} to {day(-20)}")
    other.close()


def test_the_previous_period_is_beside_the_current(tab: Tab, site: Site) -> None:
    page = sign_in(tab, site)
    wait_until_loaded(page)
    previous = json.loads(site.api("/usage-analytics", startDate=day(-13), endDate=day(-7)).text,
                          parse_float=Decimal)
    figure = page.locator("[data-figure=previous-diem]")
    expect(figure).to_have_count(1)
    assert Decimal(figure.get_attribute("data-exact") or "") == sum(
        d["DIEM"] for d in previous["byDate"])
    expect(page.locator("#spend-figures")).to_contain_text(f"Previous {day(-13)} to {day(-7)}")


def test_a_negative_balance_is_explained(tab: Tab, site: Site) -> None:
    account = json.loads(site.cli("accounts", "create", "Overdrawn", "--json"))
    key = json.loads(site.cli("keys", "create", "--account", account["id"], "--type", "ADMIN",
                              "--json"))
    site.cli("credits", "grant", "--account", account["id"], "--currency", "USD",
             "--amount", "-2.5", "--note", "test adjustment")
    page = sign_in(tab, site, key["key"])
    wait_until_loaded(page)
    expect(page.locator("[data-figure=balance-usd]")).to_have_text("-2.50 USD")
    expect(page.locator("#balance-note")).to_be_visible()
    expect(page.locator("#balance-note")).to_contain_text("never refuses to record usage")

    page.get_by_role("button", name="Sign out").click()
    page = sign_in(tab, site)  # the demo account is not overdrawn: no note
    wait_until_loaded(page)
    expect(page.locator("#balance-note")).to_be_hidden()

"""What the visitor is told: a wrong key, an INFERENCE key, an empty account, a panel whose
endpoint this server lacks; the key kept in session storage only; every control reachable by
keyboard; and the page readable on a phone."""

from __future__ import annotations

from playwright.sync_api import Page, Route, expect

from tests.support.browser import Site, Tab, screenshot, sign_in, wait_until_loaded

CONTROLS = "button, input, summary, a[href], select, textarea, [tabindex='0']"


def test_a_wrong_key_is_refused_and_the_page_says_so(tab: Tab, site: Site) -> None:
    page = sign_in(tab, site, "ubk_not-a-real-key")
    expect(page.locator("#key-error")).to_contain_text("not accepted")
    expect(page.locator("#dashboard")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0


def test_an_inference_key_is_not_allowed(tab: Tab, site: Site) -> None:
    page = sign_in(tab, site, site.inference_key)
    expect(page.locator("#key-error")).to_contain_text("INFERENCE keys are not allowed")
    expect(page.locator("#dashboard")).to_be_hidden()
    screenshot(page, "inference-key-1280x800")


def test_an_account_without_usage_says_so(tab: Tab, site: Site) -> None:
    page = sign_in(tab, site, site.empty_admin_key)
    wait_until_loaded(page)
    expect(page.locator("#notice")).to_contain_text("This account has no usage yet")
    for panel in ("daily", "models", "keys", "entries"):
        expect(page.locator(f"#{panel}-panel")).to_have_attribute("data-state", "empty")
    expect(page.locator("[data-figure=spend-usd]")).to_have_text("0.00 USD")
    assert tab.errors == []
    screenshot(page, "empty-account-1280x800")


def test_a_missing_endpoint_leaves_its_panels_unavailable(tab: Tab, site: Site) -> None:
    def not_found(route: Route) -> None:
        route.fulfill(status=404, json={"error": "Not Found"})

    tab.page.route("**/api/v1/billing/usage-analytics*", not_found)
    tab.page.route("**/api/v1/billing/credits*", not_found)
    page = sign_in(tab, site)
    wait_until_loaded(page)
    for panel in ("spend", "daily", "models", "keys", "balances"):
        expect(page.locator(f"#{panel}-panel")).to_have_attribute("data-state", "unavailable")
        expect(page.locator(f"#{panel}-panel .panel-status")).to_have_text(
            "Unavailable on this server.")
    expect(page.locator("#entries-panel")).to_have_attribute("data-state", "ready")


def test_the_key_lives_in_session_storage_only(tab: Tab, site: Site) -> None:
    page = sign_in(tab, site)
    wait_until_loaded(page)
    assert page.evaluate("sessionStorage.getItem('usagebook.apiKey')") == site.admin_key
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []
    page.reload()
    wait_until_loaded(page)  # the same tab stays signed in
    other = page.context.new_page()
    other.goto(site.base_url + "/")
    expect(other.locator("#sign-in")).to_be_visible()  # a new tab starts signed out
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#sign-in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def focused(page: Page) -> str:
    described: str = page.evaluate(
        """() => { const e = document.activeElement;
                   return e.id || e.textContent.trim().slice(0, 40) || e.tagName; }""")
    return described


def tab_through(page: Page, presses: int) -> set[str]:
    seen = set()
    for _ in range(presses):
        page.keyboard.press("Tab")
        seen.add(focused(page))
    return seen


def reachable_controls(page: Page) -> set[str]:
    found: list[str] = page.eval_on_selector_all(
        CONTROLS,
        """all => all.filter(e => !e.disabled && e.getClientRects().length
                               && getComputedStyle(e).visibility !== 'hidden')
                     .map(e => e.id || e.textContent.trim().slice(0, 40) || e.tagName)""")
    return set(found)


def test_every_control_is_reachable_and_usable_by_keyboard(tab: Tab, site: Site) -> None:
    page = tab.page
    page.goto(site.base_url + "/")
    seen = tab_through(page, 3)
    assert "api-key" in seen
    page.focus("#api-key")
    page.keyboard.type(site.admin_key)
    page.keyboard.press("Enter")
    wait_until_loaded(page)
    page.focus("#main")
    expected = reachable_controls(page) - {"Skip to content"}
    seen = tab_through(page, 60)
    assert expected <= seen, expected - seen
    assert {"sign-out", "download-csv", "next-page", "range-start", "range-apply",
            "Show the daily figures as a table", "30 days"} <= expected

    page.locator("button.period", has_text="90 days").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#period-label")).to_contain_text("90 days")
    page.focus("#next-page")
    page.keyboard.press("Enter")
    expect(page.locator("#page-info")).to_contain_text("Page 2 of")


def test_the_page_reads_on_a_phone(phone_tab: Tab, site: Site) -> None:
    page = sign_in(phone_tab, site)
    wait_until_loaded(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for control in ("#download-csv", "#next-page", "#sign-out"):
        box = page.locator(control).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert box["height"] >= 36  # a finger-sized target
    assert phone_tab.errors == []
    screenshot(page, "phone-390x844")

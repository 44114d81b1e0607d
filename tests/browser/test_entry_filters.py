"""The entries table's key and model pickers, on a desktop and a phone: they list what the
account used in the period, the rows they leave are the API's own answer to /billing/usage
with `apiKeyId` and `modelId`, and the choice is kept in the URL (a reload shows the same)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.support.browser import DESKTOP, PHONE, Site, open_tab, sign_in, wait_until_loaded
from usagebook.timeutil import MS_PER_DAY, format_ms, now_ms


def _days() -> tuple[str, str]:
    """The dashboard's default period: the last 7 UTC days, today included."""
    today = now_ms() // MS_PER_DAY * MS_PER_DAY
    return format_ms(today - 6 * MS_PER_DAY)[:10], format_ms(today)[:10]


def _own_analytics(site: Site, **params: str) -> dict[str, Any]:
    answer = httpx.get(f"{site.base_url}/api/v1/usage/analytics", params=params, timeout=30,
                       headers={"Authorization": f"Bearer {site.admin_key}"})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _shown_rows(page: Any) -> list[list[str]]:
    rows: list[list[str]] = page.eval_on_selector_all(
        "#entries-table tbody tr",
        "rows => rows.map(r => [r.cells[0].textContent, r.cells[1].textContent,"
        " r.cells[4].dataset.exact])")
    return rows


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_pickers_filter_the_entries_as_the_api_does(
    browser: Any, site: Site, viewport: dict[str, int]
) -> None:
    start, end = _days()
    keys = [k["apiKeyId"] for k in site.api("/usage-analytics", lookback="7d").json()["byKey"]
            if k["apiKeyId"]]
    models = [s["group"] for s in _own_analytics(site, start=start, end=end,
                                                   groupBy="model")["series"]]
    assert len(keys) >= 3 and len(models) >= 5
    # A key and a model it used, so that the filtered page is not empty.
    key = keys[0]
    model = _own_analytics(site, start=start, end=end, groupBy="model",
                           apiKey=key)["series"][0]["group"]
    context, tab = open_tab(browser, viewport)
    try:
        page = sign_in(tab, site)
        wait_until_loaded(page)
        listed = page.eval_on_selector_all(
            "#filter-key option, #filter-model option",
            "options => options.map(o => [o.parentElement.id, o.value])")
        assert [v for where, v in listed if where == "filter-key"] == ["", *keys]
        assert [v for where, v in listed if where == "filter-model"] == ["", *models]

        page.select_option("#filter-key", key)
        page.select_option("#filter-model", model)
        expected = site.api("/usage", apiKeyId=key, modelId=model, sortOrder="desc", limit=20,
                            startDate=f"{start}T00:00:00.000Z",
                            endDate=f"{end}T23:59:59.999Z").json()
        total = expected["pagination"]["total"]
        assert 0 < total < site.api("/usage", limit=1).json()["pagination"]["total"]
        page.wait_for_function(
            "total => document.getElementById('page-info').textContent.endsWith("
            "`${total.toLocaleString('en-US')} entries`)", arg=total, timeout=20_000)
        wanted = [[e["timestamp"].replace("T", " ").replace("Z", ""), e["sku"], str(e["amount"])]
                  for e in expected["data"]]
        assert _shown_rows(page) == wanted

        view = parse_qs(urlparse(page.url).query)
        assert view == {"days": ["7"], "key": [key], "model": [model]}
        page.reload()  # the key stays in the tab's session storage, the view in the URL
        wait_until_loaded(page)
        page.wait_for_function(
            "total => document.getElementById('page-info').textContent.endsWith("
            "`${total.toLocaleString('en-US')} entries`)", arg=total, timeout=20_000)
        assert page.input_value("#filter-key") == key
        assert page.input_value("#filter-model") == model
        assert _shown_rows(page) == wanted
        if viewport is DESKTOP:  # the download is what is shown: the filtered entries, as CSV
            with page.expect_download() as download:
                page.get_by_role("button", name="Download CSV").click()
            csv = site.api("/usage", "text/csv", apiKeyId=key, modelId=model, sortOrder="asc",
                           limit=500, startDate=f"{start}T00:00:00.000Z",
                           endDate=f"{end}T23:59:59.999Z")
            assert Path(download.value.path()).read_bytes() == csv.content
            assert csv.content.count(b"\n") == total + 1  # under one page of 500

        page.select_option("#filter-key", "")  # back to every key: the model alone
        alone = site.api("/usage", modelId=model, limit=1, startDate=f"{start}T00:00:00.000Z",
                         endDate=f"{end}T23:59:59.999Z").json()["pagination"]["total"]
        page.wait_for_function(
            "total => document.getElementById('page-info').textContent.endsWith("
            "`${total.toLocaleString('en-US')} entries`)", arg=alone, timeout=20_000)
        assert parse_qs(urlparse(page.url).query) == {"days": ["7"], "model": [model]}
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= viewport["width"]
        assert tab.errors == []
    finally:
        context.close()


def test_a_shared_view_whose_key_has_no_entries_says_so(browser: Any, site: Site) -> None:
    """A link naming a key the period never saw: the key stays chosen (listed by its id), the
    table says that this key and model have no entries, and no notice speaks of the period."""
    context, tab = open_tab(browser, DESKTOP)
    try:
        page = tab.page
        page.goto(f"{site.base_url}/?days=7&key=key_0000000000000000")
        page.get_by_label("ADMIN API key").fill(site.admin_key)
        page.get_by_role("button", name="Show my usage").click()
        wait_until_loaded(page)
        assert page.get_attribute("#entries-panel", "data-state") == "empty"
        assert page.text_content("#entries-panel .panel-status") == (
            "No entries of this key and model in this period.")
        assert page.input_value("#filter-key") == "key_0000000000000000"
        assert page.is_hidden("#notice")
        assert "key=key_0000000000000000" in page.url
        assert tab.errors == []
    finally:
        context.close()

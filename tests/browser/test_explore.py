"""Spend over time (/explore): any range, zone, bucket size and grouping; the table and its CSV
are exactly the API's figures; the view lives in the URL; bad input is named; a phone fits."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from playwright.sync_api import Page, expect

from tests.support.browser import Site, Tab, screenshot, sign_in, wait_until_loaded

VIEW = {"start": "2026-10-01", "end": "2026-12-01", "timeZone": "Asia/Kolkata",
        "granularity": "week", "groupBy": "model"}


def analytics(site: Site, **params: str) -> Any:
    answer = httpx.get(f"{site.base_url}/api/v1/usage/analytics", params=params, timeout=30,
                       headers={"Authorization": f"Bearer {site.admin_key}"})
    assert answer.status_code == 200, answer.text
    return json.loads(answer.text, parse_float=Decimal)


def open_explore(tab: Tab, site: Site, **view: str) -> Page:
    page = sign_in(tab, site)
    wait_until_loaded(page)
    page.goto(f"{site.base_url}/explore?{urlencode(view)}")
    expect(page.locator("#explore-panel")).not_to_have_attribute("data-state", "loading")
    return page


def expected_rows(answer: Any, measure: str = "usd") -> list[list[str]]:
    rows = []
    for i, bucket in enumerate(answer["buckets"]):
        values = [Decimal(s[measure][i]) for s in answer["series"]]
        rows.append([bucket, *(str(v) for v in values), str(sum(values, Decimal(0)))])
    return rows


def same_number(a: str, b: str) -> bool:
    return Decimal(a.replace(",", "")) == Decimal(b.replace(",", ""))


def test_the_table_and_its_csv_are_the_apis_figures(tab: Tab, site: Site) -> None:
    page = open_explore(tab, site, **VIEW)
    answer = analytics(site, **VIEW)
    assert answer["series"], "the demo account has spend in the range"
    # The demo spends DIEM only: the page shows the currency the range was spent in.
    assert Decimal(answer["totals"]["usd"]) == 0 < Decimal(answer["totals"]["diem"])
    expect(page.locator("#explore-measure")).to_have_value("diem")
    rows = expected_rows(answer, "diem")
    assert any(Decimal(row[-1]) > 0 for row in rows)
    table = page.locator("#explore-table tbody tr")
    expect(table).to_have_count(len(rows))
    for index, row in enumerate(rows):
        cells = table.nth(index).locator("td").all_inner_texts()
        assert all(same_number(shown, exact) for shown, exact in zip(cells, row[1:], strict=True))
    headers = page.locator("#explore-table thead th").all_inner_texts()
    assert headers[1:-1] == [s["group"] for s in answer["series"]]

    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV of this table").click()
    written = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert written[0] == ["bucket", *(s["group"] for s in answer["series"]), "total"]
    assert [r[0] for r in written[1:]] == [r[0] for r in rows]
    for got, want in zip(written[1:], rows, strict=True):
        assert [Decimal(v) for v in got[1:]] == [Decimal(v) for v in want[1:]]
    assert tab.errors == []
    screenshot(page, "explore-1280x800")


def test_the_form_changes_the_view_and_the_url_keeps_it(tab: Tab, site: Site) -> None:
    page = open_explore(tab, site, **VIEW)
    page.get_by_label("Buckets").select_option("month")
    page.get_by_label("Group by").select_option("currency")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page).to_have_url(re.compile(r"granularity=month.*groupBy=currency"))
    answer = analytics(site, **{**VIEW, "granularity": "month", "groupBy": "currency"})
    expect(page.locator("#explore-table tbody tr")).to_have_count(len(answer["buckets"]))
    page.reload()
    expect(page.get_by_label("Buckets")).to_have_value("month")
    expect(page.get_by_label("Group by")).to_have_value("currency")
    expect(page.locator("#explore-table thead th")).to_have_count(len(answer["series"]) + 2)


def test_a_bad_zone_is_named(tab: Tab, site: Site) -> None:
    page = open_explore(tab, site, **{**VIEW, "timeZone": "Mars/Olympus"})
    expect(page.locator("#explore-error")).to_contain_text("timeZone")
    expect(page.locator("#explore-panel")).to_have_attribute("data-state", "error")


def test_the_zone_defaults_to_the_browsers_and_a_phone_fits(phone_tab: Tab, site: Site) -> None:
    page = open_explore(phone_tab, site)
    zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    expect(page.get_by_label("Time zone")).to_have_value(zone)
    widths = page.evaluate("({page: document.scrollingElement.scrollWidth, "
                           "viewport: window.innerWidth})")
    assert widths["page"] <= widths["viewport"], widths
    screenshot(page, "explore-390x844")

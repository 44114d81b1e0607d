"""The dashboard in headless Chromium against a real server: it shows the numbers the API
returns, pages the entries, downloads the period's CSV, and says clearly what went wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.support.browser import Site, Tab, screenshot, sign_in, wait_until_loaded


def exact(answer: Any) -> Any:
    return json.loads(answer.text, parse_float=Decimal)


def shown(text: str) -> Decimal:
    """A figure as the page writes it (thousands separators, maybe a unit) as a Decimal."""
    return Decimal(text.split(" ")[0].replace(",", ""))


def table(page: Page, table_id: str) -> list[list[str]]:
    """Each cell's exact figure where it shows a rounded one (data-exact), else its text."""
    rows: list[list[str]] = page.eval_on_selector_all(
        f"#{table_id} tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.dataset.exact ?? c.textContent.trim()))")
    return rows


def rounded(value: Decimal) -> str:
    """How the page writes a money figure: cents, 4 places below a cent, grouped."""
    size = abs(value)
    if size == 0:
        return "0.00"
    if size < Decimal("0.00005"):
        return "> -0.0001" if value < 0 else "< 0.0001"
    places = Decimal("0.01") if size >= Decimal("0.01") else Decimal("0.0001")
    return f"{value.quantize(places, rounding=ROUND_HALF_UP):,}"


def money_figure(page: Page, name: str) -> Decimal:
    """A figure's exact value, after checking the text shows it rounded."""
    locator = page.locator(f"[data-figure={name}]")
    value = Decimal(locator.get_attribute("data-exact") or "")
    assert locator.inner_text().split(" ")[0] == rounded(value)
    return value


def chart(page: Page, canvas_id: str) -> dict[str, Any]:
    data: dict[str, Any] = page.evaluate(
        """id => { const c = Chart.getChart(id);
                  return {labels: c.data.labels, data: c.data.datasets.map(d => d.data),
                          exact: c.data.datasets.map(d => d.exact)}; }""", canvas_id)
    return data


def period(days: int) -> tuple[str, str]:
    today = datetime.now(UTC).date()
    return (today - timedelta(days=days - 1)).isoformat(), today.isoformat()


def usage_page(site: Site, days: int, page: int) -> Any:
    start, end = period(days)
    return exact(site.api("/usage", sortOrder="desc", limit=20, page=page,
                          startDate=f"{start}T00:00:00.000Z", endDate=f"{end}T23:59:59.999Z"))


def check_entries(page: Page, expected: Any) -> None:
    rows = table(page, "entries-table")
    assert len(rows) == len(expected["data"]) > 0
    for row, entry in zip(rows, expected["data"], strict=True):
        assert row[0] == entry["timestamp"].replace("T", " ").replace("Z", "")
        assert row[1] == entry["sku"]
        assert [shown(cell) for cell in row[2:5]] == [
            entry["units"], entry["pricePerUnitUsd"], entry["amount"]]
        assert row[5] == entry["currency"]
        assert row[6] == entry["inferenceDetails"]["requestId"]


def check_analytics(page: Page, analytics: Any) -> None:
    days = analytics["byDate"]
    daily = chart(page, "daily-chart")
    assert daily["labels"] == [d["date"] for d in days]
    assert [[Decimal(v) for v in series] for series in daily["exact"]] == [
        [d["USD"] for d in days], [d["DIEM"] for d in days]]
    assert daily["data"][0] == [float(d["USD"]) for d in days]
    assert money_figure(page, "spend-usd") == sum(d["USD"] for d in days)
    assert money_figure(page, "spend-diem") == sum(d["DIEM"] for d in days)

    models = analytics["byModel"][:8]
    rest = analytics["byModel"][8:]
    assert chart(page, "models-chart")["labels"][:8] == [m["modelName"] for m in models]
    rows = table(page, "models-table")
    assert [(r[0], shown(r[1]), shown(r[2]), shown(r[3])) for r in rows[:8]] == [
        (m["modelName"], m["totalUsd"], m["totalDiem"], m["totalUnits"]) for m in models]
    if rest:  # one "Other" line after the top 8, summing the rest exactly
        assert rows[8][0] == f"Other ({len(rest)} models)"
        assert (shown(rows[8][1]), shown(rows[8][2])) == (
            sum(m["totalUsd"] for m in rest), sum(m["totalDiem"] for m in rest))
    assert len(rows) == len(models) + (1 if rest else 0)
    keys = analytics["byKey"][:8]
    key_rows = table(page, "keys-table")
    assert [(shown(r[1]), shown(r[2])) for r in key_rows[:8]] == [
        (k["totalUsd"], k["totalDiem"]) for k in keys]
    assert len(keys) > 1 and "Web App" in [r[0] for r in key_rows]


def test_the_page_shows_the_numbers_the_api_returns(tab: Tab, site: Site) -> None:
    page = sign_in(tab, site)
    wait_until_loaded(page)
    expect(page.locator("#period-label")).to_contain_text("7 days")
    check_analytics(page, exact(site.api("/usage-analytics", lookback="7d")))
    credits = exact(site.api("/credits"))["balances"]
    for figure, currency in (("balance-usd", "USD"), ("balance-bundled", "BUNDLED_CREDITS")):
        assert money_figure(page, figure) == credits[currency]
    check_entries(page, usage_page(site, 7, 1))
    assert tab.errors == []
    screenshot(page, "desktop-1280x800")


def test_the_entries_table_pages_newest_first(tab: Tab, site: Site) -> None:
    page = sign_in(tab, site)
    wait_until_loaded(page)
    first = usage_page(site, 7, 1)
    pages = first["pagination"]["totalPages"]
    assert pages >= 3
    expect(page.locator("#page-info")).to_have_text(
        f"Page 1 of {pages} · {first['pagination']['total']:,} entries")
    expect(page.locator("#prev-page")).to_be_disabled()
    page.get_by_role("button", name="Older").click()
    expect(page.locator("#page-info")).to_contain_text(f"Page 2 of {pages}")
    check_entries(page, usage_page(site, 7, 2))
    page.get_by_role("button", name="Newer").click()
    expect(page.locator("#page-info")).to_contain_text(f"Page 1 of {pages}")
    check_entries(page, first)


def test_periods_and_date_ranges_follow_the_api(tab: Tab, site: Site) -> None:
    page = sign_in(tab, site)
    wait_until_loaded(page)
    page.get_by_role("button", name="30 days").click()
    expect(page.get_by_role("button", name="30 days")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#period-label")).to_contain_text("30 days")
    wait_until_loaded(page)
    check_analytics(page, exact(site.api("/usage-analytics", lookback="30d")))
    check_entries(page, usage_page(site, 30, 1))

    start, end = period(60)
    end = (datetime.fromisoformat(end) - timedelta(days=20)).date().isoformat()
    page.get_by_label("From").fill(start)
    page.get_by_label("to", exact=True).fill(end)
    page.get_by_role("button", name="Apply range").click()
    expect(page.locator("#period-label")).to_contain_text(f"{start} to {end}")
    wait_until_loaded(page)
    check_analytics(page, exact(site.api("/usage-analytics", startDate=start, endDate=end)))
    assert all(b.get_attribute("aria-pressed") == "false"
               for b in page.locator(".period").all())


def test_the_csv_download_is_the_period_as_the_api_and_the_export_give_it(
    tab: Tab, site: Site
) -> None:
    page = sign_in(tab, site)
    wait_until_loaded(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    start, end = period(7)
    assert download.value.suggested_filename == f"usage-{start}-to-{end}.csv"
    body = Path(download.value.path()).read_bytes()
    pages, number = [], 1
    while True:
        answer = site.api("/usage", "text/csv", sortOrder="asc", limit=500, page=number,
                          startDate=f"{start}T00:00:00.000Z", endDate=f"{end}T23:59:59.999Z")
        pages.append(answer.content if number == 1 else answer.content.split(b"\n", 1)[1])
        if number >= int(answer.headers["x-pagination-total-pages"]):
            break
        number += 1
    assert body == b"".join(pages)
    assert body.count(b"\n") == int(answer.headers["x-pagination-total"]) + 1
    exported = site.cli("export", "--account", site.account_id, "--format", "csv",
                        "--start", f"{start}T00:00:00Z", "--end", f"{end}T23:59:59.999Z")
    assert exported.encode() == body
    expect(page.locator("#download-status")).to_have_text("CSV downloaded.")

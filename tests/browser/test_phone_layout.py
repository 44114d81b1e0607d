"""On a phone-sized viewport (390x844) nothing scrolls sideways: the entries table (and the top
models and keys) reflow into one labelled card per row, and stay tables, with their column
headers, for screen readers; at 1280x800 they are still rows and columns."""

from __future__ import annotations

from itertools import combinations
from typing import Any

from playwright.sync_api import Page

from tests.support.browser import PHONE, SCREENSHOTS, Site, Tab, sign_in, wait_until_loaded

CAPTION = "Usage entries of the period, newest first"
SELF_EXPLAINING = {"Time (UTC)", "SKU", "Amount", "Currency"}


def widths(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate("""() => ({
        page: document.scrollingElement.scrollWidth, viewport: window.innerWidth,
        boxes: [...document.querySelectorAll('table, .table-scroll')].map(e => ({
            what: e.id || e.className + ' in ' + e.closest('section').id,
            scroll: e.scrollWidth, client: e.clientWidth,
            right: e.getBoundingClientRect().right}))})""")
    return found


def entry_cards(page: Page) -> list[list[dict[str, Any]]]:
    """Per entry row: each cell's box, label, CSS label text and own text."""
    cards: list[list[dict[str, Any]]] = page.eval_on_selector_all(
        "#entries-table tbody tr", """rows => rows.map(r => [...r.cells].map(c => {
            const box = c.getBoundingClientRect();
            return {top: box.top, bottom: box.bottom, left: box.left, right: box.right,
                    label: c.dataset.label, shown: getComputedStyle(c, '::before').content,
                    text: c.textContent}; }))""")
    return cards


def lines_of(cells: list[dict[str, Any]]) -> list[float]:
    """The distinct lines the cells are drawn on (tops within 4 px share a line)."""
    tops: list[float] = []
    for top in sorted(cell["top"] for cell in cells):
        if not tops or top - tops[-1] > 4:
            tops.append(top)
    return tops


def accessible_table(page: Page) -> dict[str, list[str]]:
    """What Chromium's accessibility tree holds under the entries table: roles to names."""
    cdp = page.context.new_cdp_session(page)
    nodes = {n["nodeId"]: n for n in cdp.send("Accessibility.getFullAXTree")["nodes"]}
    [table] = [n for n in nodes.values() if n.get("role", {}).get("value") == "table"
               and n.get("name", {}).get("value") == CAPTION]
    found: dict[str, list[str]] = {}
    pending = list(table.get("childIds", []))
    while pending:
        node = nodes[pending.pop(0)]
        role = node.get("role", {}).get("value", "")
        found.setdefault(role, []).append(node.get("name", {}).get("value", ""))
        pending += node.get("childIds", [])
    return found


def test_nothing_scrolls_sideways_and_entries_become_labelled_cards(
    phone_tab: Tab, site: Site
) -> None:
    page = sign_in(phone_tab, site)
    wait_until_loaded(page)
    page.get_by_text("Show the daily figures as a table").click()
    measured = widths(page)
    assert measured["viewport"] == PHONE["width"]
    assert measured["page"] <= measured["viewport"]
    assert len(measured["boxes"]) >= 8  # four tables, each in its scroll region
    for box in measured["boxes"]:
        assert box["scroll"] <= box["client"] and box["right"] <= PHONE["width"], box

    headers = page.eval_on_selector_all("#entries-table thead th",
                                        "cells => cells.map(c => c.textContent.trim())")
    cards = entry_cards(page)
    assert len(cards) == 20 and len(headers) == 8
    for card, next_card in zip(cards, [*cards[1:], None], strict=True):
        assert [cell["label"] for cell in card] == headers
        drawn = [cell for cell in card if cell["text"]]  # an empty cell takes no line
        assert all(c["bottom"] - c["top"] <= 1 for c in card if not c["text"])
        for cell, other in combinations(drawn, 2):  # side by side or one under the other
            assert (cell["right"] <= other["left"] + 1 or other["right"] <= cell["left"] + 1
                    or cell["bottom"] <= other["top"] + 1 or other["bottom"] <= cell["top"] + 1)
        assert all(cell["right"] <= PHONE["width"] for cell in drawn)
        # time and amount; SKU; units and price; tokens (when known); request
        assert len(lines_of(drawn)) <= 5
        # drawn from the label, with empty alternative text for screen readers, except where
        # the value explains itself
        for cell in card:
            plain = cell["label"] in SELF_EXPLAINING
            assert cell["shown"] == ("none" if plain else f'"{cell["label"]}" / ""'), cell
        if next_card:
            assert next_card[0]["top"] > max(cell["bottom"] for cell in drawn)

    spoken = accessible_table(page)
    assert spoken["columnheader"] == headers
    assert len(spoken["row"]) == 21  # the header row and one per entry
    # each cell's name is its own text: the drawn label is not read again
    assert len(spoken["cell"]) == 20 * 8
    assert spoken["cell"][:8] == [cell["text"] for cell in cards[0]]
    assert phone_tab.errors == []
    SCREENSHOTS.mkdir(exist_ok=True)
    page.evaluate("document.getElementById('entries-panel').scrollIntoView()")
    page.screenshot(path=str(SCREENSHOTS / "phone-entries-390x844.png"))  # the first cards


def test_the_desktop_keeps_the_tables_as_rows_and_columns(tab: Tab, site: Site) -> None:
    page = sign_in(tab, site)
    wait_until_loaded(page)
    measured = widths(page)
    assert measured["page"] <= measured["viewport"]
    for box in measured["boxes"]:
        assert box["scroll"] <= box["client"], box
    layout = page.evaluate("""() => {
        const table = document.getElementById('entries-table');
        const row = table.tBodies[0].rows[0];
        return {head: getComputedStyle(table.tHead).display,
                cell: getComputedStyle(row.cells[0]).display,
                tops: [...row.cells].map(c => Math.round(c.getBoundingClientRect().top)),
                label: getComputedStyle(row.cells[0], '::before').content}; }""")
    assert layout["head"] == "table-header-group" and layout["cell"] == "table-cell"
    assert len(set(layout["tops"])) == 1 and layout["label"] == "none"  # one line, no labels


# The issue found the 7-day page 8,900 px tall on a phone; it was still 8,149 px with an entry
# a line per cell. With entries in at most five lines and top models and keys in two it is
# 5,655 px, 5,735 px with the entries' key and model pickers (demo data, 20 entries a page, the
# daily table folded). The bound leaves room for a longer name or two, and fails long before
# the page is back near what the issue saw.
PHONE_PAGE_MOST_PX = 6_300


def test_the_seven_day_page_on_a_phone_is_far_shorter_than_it_was(
    phone_tab: Tab, site: Site
) -> None:
    page = sign_in(phone_tab, site)
    wait_until_loaded(page)
    assert page.get_attribute(".period[data-days='7']", "aria-pressed") == "true"
    assert page.locator("#entries-table tbody tr").count() == 20  # a full page of entries
    height = page.evaluate("document.scrollingElement.scrollHeight")
    print(f"phone page height, 7 days, 390x844: {height} px")
    assert height <= PHONE_PAGE_MOST_PX

"""GET /billing/usage: ledger order, walking pages, date bounds and the currency filter."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support.factories import random_entries
from tests.support.harness import Harness, Tenant
from tests.support.usage import page, request_ids, store
from usagebook.ledger.catalog import DEMO_CATALOG
from usagebook.money import charge_amount
from usagebook.store.rows import NewEntry
from usagebook.timeutil import format_ms, now_ms


def _entry(account_id: str, ts_ms: int, request_id: str, currency: str = "USD") -> NewEntry:
    sku = DEMO_CATALOG[0]
    units = Decimal("0.001234")
    return NewEntry(account_id=account_id, api_key_id=None, ts_ms=ts_ms, sku=sku.sku,
                    price_per_unit_usd=sku.price_per_unit_usd, units=units,
                    amount=charge_amount(sku.price_per_unit_usd, units), currency=currency,
                    request_id=request_id)


def _walk(harness: Harness, tenant: Tenant, **params: object) -> tuple[list[str], int]:
    seen: list[str] = []
    number = 1
    while True:
        body = page(harness, tenant, page=number, **params)
        pages = body["pagination"]["totalPages"]
        if number > pages:
            assert body["data"] == []
            return seen, int(body["pagination"]["total"])
        assert len(body["data"]) == (params.get("limit") or 200) or number == pages
        seen.extend(request_ids(body))
        number += 1


@pytest.mark.parametrize("limit", [1, 7, 25, 500])
def test_walking_every_page_gives_each_entry_once_in_order(
    harness: Harness, tenant: Tenant, limit: int
) -> None:
    stored = store(harness, random_entries(tenant.account_id, 50, seed=21))
    ascending = [entry.request_id for _, entry in stored]
    seen, total = _walk(harness, tenant, limit=limit, sortOrder="asc")
    assert total == 50
    assert seen == ascending
    seen, _ = _walk(harness, tenant, limit=limit, sortOrder="desc")
    assert seen == ascending[::-1]


def test_ties_on_timestamp_are_ordered_by_entry_id(harness: Harness, tenant: Tenant) -> None:
    moment = now_ms() - 5_000
    # Request ids deliberately not in insertion order, so only the entry id can explain it.
    made = [_entry(tenant.account_id, moment, f"tie-{name}") for name in "qzam"]
    made.append(_entry(tenant.account_id, moment - 1, "earlier"))
    stored = store(harness, made)
    assert [entry.request_id for _, entry in stored] == ["earlier", "tie-q", "tie-z", "tie-a",
                                                         "tie-m"]
    asc = request_ids(page(harness, tenant, sortOrder="asc"))
    assert asc == ["earlier", "tie-q", "tie-z", "tie-a", "tie-m"]
    assert request_ids(page(harness, tenant, sortOrder="desc")) == asc[::-1]
    # Split across pages, the ties keep the same order.
    split = [request_id for n in (1, 2, 3)
             for request_id in request_ids(page(harness, tenant, sortOrder="desc", limit=2,
                                                page=n))]
    assert split == asc[::-1]


@pytest.mark.parametrize(("total", "limit", "pages"), [(0, 5, 0), (1, 1, 1), (10, 5, 2),
                                                        (10, 10, 1), (11, 5, 3), (9, 10, 1)])
def test_total_pages_at_the_edges(
    harness: Harness, tenant: Tenant, total: int, limit: int, pages: int
) -> None:
    if total:
        store(harness, random_entries(tenant.account_id, total, seed=22))
    body = page(harness, tenant, limit=limit)
    assert body["pagination"] == {"limit": limit, "page": 1, "total": total, "totalPages": pages}
    last = page(harness, tenant, limit=limit, page=max(pages, 1))
    assert len(last["data"]) == (total - (pages - 1) * limit if pages else 0)
    beyond = page(harness, tenant, limit=limit, page=pages + 1)
    assert beyond["data"] == []
    assert beyond["pagination"]["totalPages"] == pages


def test_date_bounds_are_inclusive(harness: Harness, tenant: Tenant) -> None:
    base = now_ms() - 60_000
    store(harness, [_entry(tenant.account_id, base + offset, f"at-{offset}")
                    for offset in (0, 999, 1000, 1001, 2000)])
    start, end = format_ms(base + 999), format_ms(base + 1001)
    body = page(harness, tenant, startDate=start, endDate=end, sortOrder="asc")
    assert request_ids(body) == ["at-999", "at-1000", "at-1001"]
    assert body["pagination"]["total"] == 3
    assert request_ids(page(harness, tenant, startDate=start, endDate=start)) == ["at-999"]
    assert request_ids(page(harness, tenant, startDate=format_ms(base + 1001),
                            sortOrder="asc")) == ["at-1001", "at-2000"]
    assert request_ids(page(harness, tenant, endDate=format_ms(base + 999),
                            sortOrder="asc")) == ["at-0", "at-999"]


def test_date_bounds_with_offsets_and_sub_milliseconds(harness: Harness, tenant: Tenant) -> None:
    base = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    store(harness, [_entry(tenant.account_id, base + offset, f"at-{offset}")
                    for offset in (0, 1, 2)])
    # The same instant written with an offset, and without one (taken as UTC).
    assert request_ids(page(harness, tenant, startDate="2026-01-01T01:00:00.001+01:00",
                            endDate="2026-01-01T00:00:00.001", sortOrder="asc")) == ["at-1"]
    # A start half-way through a millisecond does not admit that millisecond's entries.
    assert request_ids(page(harness, tenant, startDate="2026-01-01T00:00:00.0005Z",
                            endDate="2026-01-01T00:00:00.0015Z", sortOrder="asc")) == ["at-1"]


def test_currency_filter(harness: Harness, tenant: Tenant) -> None:
    moment = now_ms() - 10_000
    currencies = ["USD", "DIEM", "BUNDLED_CREDITS", "DIEM", "USD", "DIEM"]
    store(harness, [_entry(tenant.account_id, moment + i, f"r{i}", currency)
                    for i, currency in enumerate(currencies)])
    for currency in ("USD", "DIEM", "BUNDLED_CREDITS"):
        body = page(harness, tenant, currency=currency, sortOrder="asc")
        expected = [f"r{i}" for i, c in enumerate(currencies) if c == currency]
        assert request_ids(body) == expected
        assert body["pagination"]["total"] == len(expected)
        assert {item["currency"] for item in body["data"]} == {currency}
    # VCU is a valid filter for Venice clients, but usagebook never stores it.
    vcu = page(harness, tenant, currency="VCU")
    assert vcu["data"] == [] and vcu["pagination"]["total"] == 0
    assert page(harness, tenant)["pagination"]["total"] == len(currencies)


def test_filters_combine_and_stay_inside_the_account(harness: Harness, tenant: Tenant) -> None:
    other = harness.tenant("neighbour")
    moment = now_ms() - 10_000
    store(harness, [_entry(other.account_id, moment, "theirs", "DIEM")])
    store(harness, [_entry(tenant.account_id, moment, "mine", "DIEM"),
                    _entry(tenant.account_id, moment - 5, "older", "DIEM"),
                    _entry(tenant.account_id, moment, "usd", "USD")])
    body = page(harness, tenant, currency="DIEM", startDate=format_ms(moment),
                endDate=format_ms(moment))
    assert request_ids(body) == ["mine"]
    assert request_ids(page(harness, other)) == ["theirs"]

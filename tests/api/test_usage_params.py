"""GET /billing/usage: each parameter, its default and limits, and the 400s for bad input."""

from __future__ import annotations

import pytest

from tests.support.factories import random_entries
from tests.support.harness import Harness, Tenant
from tests.support.usage import URL, assert_bad_request, page, request_ids, store

INVALID = [
    ({"limit": "0"}, "limit"),
    ({"limit": "501"}, "limit"),
    ({"limit": "-3"}, "limit"),
    ({"limit": "abc"}, "limit"),
    ({"limit": "2.5"}, "limit"),
    ({"limit": ""}, "limit"),
    ({"page": "0"}, "page"),
    ({"page": "-1"}, "page"),
    ({"page": "abc"}, "page"),
    ({"currency": "EUR"}, "currency"),
    ({"currency": "usd"}, "currency"),
    ({"sortOrder": "up"}, "sortOrder"),
    ({"sortOrder": "DESC"}, "sortOrder"),
    ({"startDate": "yesterday"}, "startDate"),
    ({"startDate": "2026-13-01T00:00:00Z"}, "startDate"),
    ({"startDate": "1700000000"}, "startDate"),
    ({"endDate": "tomorrow"}, "endDate"),
    ({"startDate": "2026-02-01T00:00:00Z", "endDate": "2026-01-31T23:59:59.999Z"}, "startDate"),
]


@pytest.mark.parametrize(("params", "name"), INVALID, ids=lambda v: str(v))
def test_each_invalid_parameter_is_a_400_naming_it(
    harness: Harness, tenant: Tenant, params: dict[str, str], name: str
) -> None:
    body = assert_bad_request(harness.get(URL, tenant, params=params), name)
    named = {key for key in body["details"] if key != "_errors"}
    assert named == {name}


def test_every_bad_parameter_is_named_at_once(harness: Harness, tenant: Tenant) -> None:
    params = {"limit": "0", "page": "abc", "currency": "EUR", "sortOrder": "up",
              "startDate": "2026-03-01T00:00:00Z", "endDate": "2026-02-01T00:00:00Z"}
    assert_bad_request(harness.get(URL, tenant, params=params),
                       "limit", "page", "currency", "sortOrder", "startDate")
    params = {"limit": "501", "startDate": "yesterday", "endDate": "soon"}
    assert_bad_request(harness.get(URL, tenant, params=params), "limit", "startDate", "endDate")


def test_defaults_are_limit_200_page_1_descending(harness: Harness, tenant: Tenant) -> None:
    stored = store(harness, random_entries(tenant.account_id, 205, seed=11))
    body = page(harness, tenant)
    assert body["pagination"] == {"limit": 200, "page": 1, "total": 205, "totalPages": 2}
    newest_first = [entry.request_id for _, entry in reversed(stored)]
    assert request_ids(body) == newest_first[:200]


@pytest.mark.parametrize("limit", [1, 2, 499, 500])
def test_limit_bounds_are_accepted(harness: Harness, tenant: Tenant, limit: int) -> None:
    store(harness, random_entries(tenant.account_id, 3, seed=12))
    body = page(harness, tenant, limit=limit)
    assert body["pagination"]["limit"] == limit
    assert len(body["data"]) == min(limit, 3)


def test_empty_account_has_zero_pages(harness: Harness, tenant: Tenant) -> None:
    body = page(harness, tenant, limit=7)
    assert body["data"] == []
    assert body["pagination"] == {"limit": 7, "page": 1, "total": 0, "totalPages": 0}


def test_a_huge_page_number_is_an_empty_page(harness: Harness, tenant: Tenant) -> None:
    store(harness, random_entries(tenant.account_id, 3, seed=13))
    for number in (10**6, 2**63 - 1, 2**63, 10**30):
        body = page(harness, tenant, page=str(number))
        assert body["data"] == []
        assert body["pagination"] == {"limit": 200, "page": number, "total": 3, "totalPages": 1}


def test_unknown_parameters_are_ignored(harness: Harness, tenant: Tenant) -> None:
    store(harness, random_entries(tenant.account_id, 2, seed=14))
    assert page(harness, tenant, foo="bar")["pagination"]["total"] == 2

"""GET /billing/usage's own filters `apiKeyId` and `modelId` (usagebook's, not Venice's): every
page and `total` equal a plain filter-and-sort over the stored entries, alone and combined with
currency and dates, on first and deep pages; an entry's model is the catalog's model of its SKU
(a SKU the catalog does not list is its own model), as /usage/analytics groups it. Ids that name
nothing give an empty page, malformed ones a 400 naming the parameter."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from tests.support.factories import random_entries
from tests.support.harness import Harness, Tenant
from tests.support.usage import URL, assert_bad_request, page, request_ids, store
from usagebook.ledger.catalog import DEMO_CATALOG
from usagebook.store.rows import NewEntry
from usagebook.timeutil import MS_PER_DAY, format_ms, now_ms

MODEL_OF = {row.sku: row.model_id for row in DEMO_CATALOG}
UNLISTED_SKU = "house-model-unit"  # priced by nobody's catalog: its own model


def _ledger(harness: Harness, tenant: Tenant, count: int, seed: int
            ) -> list[tuple[int, NewEntry]]:
    made = random_entries(tenant.account_id, count, seed=seed, span_ms=10 * MS_PER_DAY,
                          key_ids=(tenant.admin_key_id, tenant.inference_key_id, None))
    rng = random.Random(seed)
    made = [replace(e, sku=UNLISTED_SKU) if rng.random() < 0.1 else e for e in made]
    return store(harness, made)


def _model(entry: NewEntry) -> str:
    return MODEL_OF.get(entry.sku, entry.sku)


def test_pages_and_totals_match_a_plain_filter(harness: Harness) -> None:
    tenant = harness.tenant("filters")
    ordered = _ledger(harness, tenant, 400, seed=19)
    models = sorted({_model(e) for _, e in ordered})
    assert UNLISTED_SKU in models and len(models) > 5
    start, end = now_ms() - 6 * MS_PER_DAY, now_ms() - 2 * MS_PER_DAY
    cases: list[dict[str, str]] = [
        {"apiKeyId": tenant.admin_key_id}, {"apiKeyId": tenant.inference_key_id},
        *({"modelId": model} for model in models),
        {"apiKeyId": tenant.admin_key_id, "modelId": models[0]},
        {"apiKeyId": tenant.inference_key_id, "modelId": UNLISTED_SKU, "currency": "DIEM"},
        {"modelId": "qwen3-235b", "startDate": format_ms(start), "endDate": format_ms(end)},
    ]
    for filters in cases:
        matching = [e.request_id for _, e in ordered
                    if filters.get("apiKeyId", e.api_key_id) == e.api_key_id
                    and filters.get("modelId", _model(e)) == _model(e)
                    and filters.get("currency", e.currency) == e.currency
                    and ("startDate" not in filters or start <= e.ts_ms <= end)]
        assert matching, filters  # each case selects something
        for order, expected in (("asc", matching), ("desc", matching[::-1])):
            for number in (1, 2, 4):
                body = page(harness, tenant, limit=7, page=number, sortOrder=order, **filters)
                assert body["pagination"]["total"] == len(matching), filters
                assert request_ids(body) == expected[(number - 1) * 7: number * 7], filters


def test_a_deep_filtered_page_is_exact(harness: Harness) -> None:
    tenant = harness.tenant("deep filters")
    ordered = store(harness, random_entries(
        tenant.account_id, 3_000, seed=20, key_ids=(tenant.admin_key_id,) * 3 + (None,)))
    mine = [e.request_id for _, e in ordered if e.api_key_id == tenant.admin_key_id]
    assert len(mine) > 2_005  # past the plain OFFSET's reach (2,000)
    deep = len(mine) - 3
    for order, expected in (("asc", mine), ("desc", mine[::-1])):
        body = page(harness, tenant, limit=1, page=deep, sortOrder=order,
                    apiKeyId=tenant.admin_key_id)
        assert body["pagination"]["total"] == len(mine)
        assert request_ids(body) == expected[deep - 1: deep]


def test_ids_that_name_nothing_give_an_empty_page(harness: Harness, tenant: Tenant) -> None:
    store(harness, random_entries(tenant.account_id, 30, seed=21,
                                  key_ids=(tenant.admin_key_id,)))
    other = harness.tenant("someone else")
    store(harness, random_entries(other.account_id, 30, seed=22, key_ids=(other.admin_key_id,)))
    for filters in ({"apiKeyId": "key_0000000000000000"}, {"apiKeyId": other.admin_key_id},
                    {"modelId": "no-such-model"},
                    # a listed SKU is not a model of its own: its model is the catalog's
                    {"modelId": DEMO_CATALOG[0].sku}):
        body = page(harness, tenant, **filters)
        assert body["pagination"]["total"] == 0 and body["data"] == [], filters


@pytest.mark.parametrize(("name", "value"), [
    ("apiKeyId", ""), ("apiKeyId", "abc"), ("apiKeyId", "key_"), ("apiKeyId", "key_a-b"),
    ("apiKeyId", "key_" + "a" * 37), ("modelId", ""), ("modelId", "m" * 201),
    ("modelId", "llama\n"),
])
def test_malformed_ids_are_a_400_naming_the_parameter(
    harness: Harness, tenant: Tenant, name: str, value: str
) -> None:
    answer = harness.get(URL, tenant, params={name: value, "limit": "0"})
    body = assert_bad_request(answer, name, "limit")  # every bad parameter at once
    assert set(body["details"]) == {"_errors", name, "limit"}


def test_the_filters_are_known_parameters_and_filter_the_csv(
    harness: Harness, tenant: Tenant
) -> None:
    ordered = store(harness, random_entries(
        tenant.account_id, 40, seed=23, key_ids=(tenant.admin_key_id, None)))
    mine = [e for _, e in ordered if e.api_key_id == tenant.admin_key_id]
    answer = harness.get(URL, tenant, params={"apiKeyId": tenant.admin_key_id,
                                              "modelId": "llama-3.3-70b", "sortOrder": "asc"})
    assert answer.status_code == 200
    assert "x-usagebook-ignored-params" not in answer.headers
    csv = harness.get(URL, tenant, headers={"Accept": "text/csv"},
                      params={"apiKeyId": tenant.admin_key_id, "sortOrder": "asc"})
    assert csv.status_code == 200
    rows = csv.text.splitlines()[1:]
    assert [row.split(",")[1] for row in rows] == [e.sku for e in mine]
    assert csv.headers["x-pagination-total"] == str(len(mine))

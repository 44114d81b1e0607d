"""GET /billing/usage against a model: for random ledgers whose timestamps crowd around UTC day
and hour boundaries (where count buckets and deep paging change strategy) and random filters,
every page and `total` equal those of a plain sort-and-filter over the stored entries."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tests.support.harness import Harness
from tests.support.usage import page, request_ids, store
from usagebook.store.rows import NewEntry
from usagebook.timeutil import MS_PER_DAY, format_ms, now_ms

HOUR = 3_600_000
# Two days back, at a UTC day start: entries crowd around day and hour edges from there.
DAY0 = (now_ms() // MS_PER_DAY - 2) * MS_PER_DAY
EDGES = [DAY0, DAY0 + HOUR, DAY0 + 23 * HOUR, DAY0 + MS_PER_DAY, DAY0 + MS_PER_DAY + 5 * HOUR]
moments = st.builds(lambda edge, shift: edge + shift, st.sampled_from(EDGES),
                    st.sampled_from([-HOUR - 1, -2, -1, 0, 0, 1, 2, 999, HOUR - 1, HOUR]))
currencies = st.sampled_from(["USD", "DIEM", "BUNDLED_CREDITS"])
ledgers = st.lists(st.tuples(moments, currencies), min_size=0, max_size=40)
bounds = st.one_of(st.none(), moments)
queries = st.fixed_dictionaries({
    "currency": st.sampled_from([None, "USD", "DIEM", "BUNDLED_CREDITS", "VCU"]),
    "start": bounds, "end": bounds,
    "limit": st.sampled_from([1, 2, 3, 7, 500]),
    "page": st.integers(min_value=1, max_value=12),
    "desc": st.booleans(),
})


def _entries(account_id: str, ledger: list[tuple[int, str]]) -> list[NewEntry]:
    return [NewEntry(account_id=account_id, api_key_id=None, ts_ms=ts, sku="flux-dev-image-unit",
                     price_per_unit_usd=Decimal("0.01"), units=Decimal(1),
                     amount=Decimal("-0.01"), currency=currency, request_id=f"e{i}")
            for i, (ts, currency) in enumerate(ledger)]


@given(ledger=ledgers, asked=st.lists(queries, min_size=1, max_size=4))
def test_pages_and_totals_match_the_model(
    harness: Harness, ledger: list[tuple[int, str]], asked: list[dict[str, object]]
) -> None:
    tenant = harness.tenant("model")
    ordered = store(harness, _entries(tenant.account_id, ledger)) if ledger else []
    for query in asked:
        start, end = query["start"], query["end"]
        if isinstance(start, int) and isinstance(end, int) and start > end:
            start, end = end, start
        matching = [entry.request_id for _, entry in ordered
                    if query["currency"] in (None, entry.currency)
                    and (start is None or entry.ts_ms >= start)  # type: ignore[operator]
                    and (end is None or entry.ts_ms <= end)]  # type: ignore[operator]
        if query["desc"]:
            matching.reverse()
        limit, number = int(query["limit"]), int(query["page"])  # type: ignore[call-overload]
        params: dict[str, object] = {"limit": limit, "page": number,
                                     "sortOrder": "desc" if query["desc"] else "asc"}
        if query["currency"]:
            params["currency"] = query["currency"]
        if start is not None:
            params["startDate"] = format_ms(start)  # type: ignore[arg-type]
        if end is not None:
            params["endDate"] = format_ms(end)  # type: ignore[arg-type]
        body = page(harness, tenant, **params)
        assert body["pagination"]["total"] == len(matching), params
        assert request_ids(body) == matching[(number - 1) * limit: number * limit], params


DEEP = [  # (limit, page): offsets past DIRECT_OFFSET (2,000), where deep paging skips buckets
    (1, 2001), (7, 290), (7, 300), (500, 5), (3, 700), (250, 9), (13, 169)]


def test_deep_pages_match_the_model(harness: Harness) -> None:
    import random

    rng = random.Random(5)
    pool = [edge + shift for edge in EDGES for shift in (-HOUR - 1, -1, 0, 1, 2, 1000, HOUR - 1)]
    ledger = [(rng.choice(pool), rng.choice(["USD", "DIEM", "BUNDLED_CREDITS"]))
              for _ in range(2_400)]
    tenant = harness.tenant("deep")
    ordered = store(harness, _entries(tenant.account_id, ledger))
    ids = [entry.request_id for _, entry in ordered]
    for limit, number in DEEP:
        for desc in (False, True):
            expected = (ids[::-1] if desc else ids)[(number - 1) * limit: number * limit]
            body = page(harness, tenant, limit=limit, page=number,
                        sortOrder="desc" if desc else "asc")
            assert body["pagination"]["total"] == len(ids)
            assert request_ids(body) == expected, (limit, number, desc)
    # A filtered deep page: between two edges, both inclusive, newest first.
    start, end = EDGES[0] - 1, EDGES[4] + 1000
    inside = [entry.request_id for _, entry in ordered if start <= entry.ts_ms <= end]
    assert 2_100 < len(inside) < len(ids)
    body = page(harness, tenant, limit=5, page=421, sortOrder="desc",
                startDate=format_ms(start), endDate=format_ms(end))
    assert body["pagination"]["total"] == len(inside)
    assert request_ids(body) == inside[::-1][2_100:2_105]

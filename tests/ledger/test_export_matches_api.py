"""`usagebook export` lists exactly what /billing/usage lists, byte for byte, on both backends."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest

from tests.support.factories import random_entries, store_entries
from tests.support.harness import Harness, Tenant
from tests.support.usage import api_pages
from usagebook.api.export import Exported, ExportQuery, export_entries
from usagebook.errors import InvalidInput, NotFound
from usagebook.timeutil import DATE_TIME_EXPECTED, format_ms, now_ms

DAY = 86_400_000
FILTERS: list[dict[str, str]] = [
    {},
    {"currency": "USD"},
    {"startDate": format_ms(now_ms() - 20 * DAY), "endDate": format_ms(now_ms() - 5 * DAY)},
    {"currency": "BUNDLED_CREDITS", "startDate": format_ms(now_ms() - 12 * DAY)},
    {"currency": "VCU"},
]


class Interrupted(Exception):
    """Stands in for Ctrl-C (a KeyboardInterrupt would also stop the test app's event loop)."""


@pytest.fixture
def filled(harness: Harness, tenant: Tenant) -> Tenant:
    other = harness.tenant("neighbour")
    harness.call(lambda db: store_entries(db, random_entries(tenant.account_id, 1100, seed=61)))
    harness.call(lambda db: store_entries(db, random_entries(other.account_id, 300, seed=62)))
    return tenant


def export_bytes(harness: Harness, query: ExportQuery, batch_size: int = 97) -> bytes:
    out = io.BytesIO()
    harness.call(lambda db: export_entries(db, query, out, batch_size=batch_size))
    return out.getvalue()





def query_for(tenant: Tenant, params: dict[str, str], fmt: str = "csv") -> ExportQuery:
    return ExportQuery(tenant.account_id, fmt, params.get("currency"), params.get("startDate"),
                       params.get("endDate"))


@pytest.mark.parametrize("params", FILTERS)
def test_csv_export_is_the_concatenation_of_the_usage_pages(
    harness: Harness, filled: Tenant, params: dict[str, str]
) -> None:
    pages = api_pages(harness, filled, params, "text/csv")
    header, *_ = pages[0].content.split(b"\n", 1)
    expected = header + b"\n" + b"".join(p.content.split(b"\n", 1)[1] for p in pages)
    assert export_bytes(harness, query_for(filled, params)) == expected


@pytest.mark.parametrize("params", FILTERS[:3])
def test_jsonl_lines_are_the_usage_entries(
    harness: Harness, filled: Tenant, params: dict[str, str]
) -> None:
    pages = api_pages(harness, filled, params, "application/json")
    expected = [entry for p in pages for entry in p.json(parse_float=Decimal)["data"]]
    lines = export_bytes(harness, query_for(filled, params, "jsonl")).splitlines()
    found = [json.loads(line, parse_float=Decimal) for line in lines]
    assert [line.pop("tags") for line in found] == [{}] * len(found)  # the fixture has none
    assert found == expected
    assert len(expected) > 0


def test_resuming_after_the_reported_cursor_continues_exactly(
    harness: Harness, filled: Tenant
) -> None:
    whole = export_bytes(harness, query_for(filled, {}))
    reported: list[Exported] = []

    def interrupt_after_three(done: Exported) -> None:
        reported.append(done)
        if len(reported) == 3:
            raise Interrupted

    first = io.BytesIO()
    with pytest.raises(Interrupted):
        harness.call(lambda db: export_entries(db, query_for(filled, {}), first,
                                               interrupt_after_three, batch_size=100))
    resumed = ExportQuery(filled.account_id, "csv", after=reported[-1].cursor)
    rest = export_bytes(harness, resumed, batch_size=100)
    assert 0 < reported[-1].entries < 1100
    assert first.getvalue() + rest == whole


def test_an_account_without_entries_exports_only_the_header(
    harness: Harness, tenant: Tenant
) -> None:
    assert export_bytes(harness, query_for(tenant, {})) == api_pages(
        harness, tenant, {}, "text/csv")[0].content
    assert export_bytes(harness, query_for(tenant, {}, "jsonl")) == b""


def test_bad_input_is_reported_all_at_once_and_unknown_accounts_are_refused(
    harness: Harness, tenant: Tenant
) -> None:
    bad = ExportQuery(tenant.account_id, "xml", "EUR", "yesterday", None, "12-x")
    with pytest.raises(InvalidInput) as caught:
        export_bytes(harness, bad)
    assert set(caught.value.problems) == {"format", "currency", "start", "after"}
    backwards = ExportQuery(tenant.account_id, start="2026-02-01T00:00:00Z",
                            end="2026-01-01T00:00:00Z")
    with pytest.raises(InvalidInput) as caught:
        export_bytes(harness, backwards)
    assert caught.value.problems == {"start": ["must not be after {end}"]}
    with pytest.raises(NotFound):
        export_bytes(harness, ExportQuery("acct_missing"))


# Bare dates and the basic format (no dashes) were taken by the export's old fromisoformat.
@pytest.mark.parametrize(("text", "accepted"), [
    ("2026-06-15T19:05:10.123456789+02:00", True), ("2026-06-15t19:05z", True),
    ("2026-06-15 19", True), ("2026-06-15", False), ("20260615T190510Z", False),
    ("2026-06-15T19:05:10+24:00", False), ("1781550310", False),
])
def test_start_and_end_are_read_as_billing_usage_reads_them(
    harness: Harness, filled: Tenant, text: str, accepted: bool
) -> None:
    query = ExportQuery(filled.account_id, start=text)
    if accepted:
        pages = api_pages(harness, filled, {"startDate": text}, "text/csv")
        expected = pages[0].content + b"".join(p.content.split(b"\n", 1)[1] for p in pages[1:])
        assert export_bytes(harness, query) == expected
        return
    answer = harness.get("/api/v1/billing/usage", filled, params={"startDate": text})
    assert answer.status_code == 400
    assert answer.json()["details"]["startDate"]["_errors"] == [DATE_TIME_EXPECTED]
    with pytest.raises(InvalidInput) as caught:
        export_bytes(harness, query)
    assert caught.value.problems == {"start": [DATE_TIME_EXPECTED]}

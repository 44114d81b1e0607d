"""Tags on recorded events: validation, duplicate and conflict decisions, storage, the cursor
walk's `tag.<key>=<value>` filter, the JSONL export, and the Venice-shaped answers that never
show them (both backends)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from tests.support.harness import Harness, Tenant
from tests.support.recording import event, named_problem, post_events, record_ok
from usagebook.api.export import ExportQuery, export_entries

HISTORY = "/api/v1/billing/usage-history"
ENTRY_KEYS = {"timestamp", "sku", "pricePerUnitUsd", "units", "amount", "currency", "notes",
              "inferenceDetails"}





def _tagged(request_id: str, tenant: Tenant, tags: Any = None, **extra: Any) -> dict[str, Any]:
    made = event(request_id, tenant.account_id, **extra)
    if tags is not None:
        made["tags"] = tags
    return made


def test_a_repeat_is_compared_on_its_tags(harness: Harness, tenant: Tenant) -> None:
    tags = {"project": "search", "user": "u_123"}
    first = record_ok(harness, [_tagged("t1", tenant, tags), _tagged("t2", tenant)])
    assert [r["status"] for r in first] == ["recorded", "recorded"]
    assert set(first[0]["entry"]) == ENTRY_KEYS  # the Venice entry: no tags
    repeats = [
        _tagged("t1", tenant),  # omits tags: a duplicate
        _tagged("t1", tenant, {"user": "u_123", "project": "search"}),  # same, other order
        _tagged("t1", tenant, {"project": "search"}),  # other tags
        _tagged("t1", tenant, {}),  # no tags, sent: other tags
        _tagged("t2", tenant, {"project": "search"}),  # tags on an untagged original
        _tagged("t2", tenant, {}),  # {} is no tags
        _tagged("t2", tenant, None),
    ]
    statuses = [r["status"] for r in record_ok(harness, repeats)]
    assert statuses == ["duplicate", "duplicate", "conflict", "conflict", "conflict",
                        "duplicate", "duplicate"]


@pytest.mark.parametrize("tags", [
    {f"k{n}": "v" for n in range(9)}, {"Project": "x"}, {"1a": "x"}, {"a" * 33: "x"},
    {"a": ""}, {"a": "x" * 65}, {"a": "é"}, {"a": "x y"}, {"a": 1}, {"a": None}, ["a"], "a=b",
    {"a\n": "x"}, {"a": "x\n"},
])
def test_bad_tags_are_refused_by_name(harness: Harness, tenant: Tenant, tags: Any) -> None:
    answer = post_events(harness, [_tagged("ok", tenant), _tagged("bad", tenant, tags)])
    assert answer.status_code == 400, answer.text
    assert named_problem(answer, "events.1.tags")
    assert list(answer.json()["details"]["events"]) == ["_errors", "1"]
    assert record_ok(harness, [_tagged("ok", tenant)])[0]["status"] == "recorded"  # not written


def test_eight_tags_of_the_longest_form_are_kept(harness: Harness, tenant: Tenant) -> None:
    tags = {f"k{n}_" + "a" * 29: "Az09._:@/+-" + "x" * 53 for n in range(8)}
    assert record_ok(harness, [_tagged("long", tenant, tags)])[0]["status"] == "recorded"
    assert _exported(harness, tenant)[0]["tags"] == tags


def _exported(harness: Harness, tenant: Tenant) -> list[dict[str, Any]]:
    out = io.BytesIO()
    harness.call(lambda db: export_entries(db, ExportQuery(tenant.account_id, "jsonl"), out))
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_jsonl_export_carries_tags(harness: Harness, tenant: Tenant) -> None:
    record_ok(harness, [_tagged("a", tenant, {"team": "ml", "user": "u/1"}),
                        _tagged("b", tenant)])
    lines = {line["inferenceDetails"]["requestId"]: line for line in _exported(harness, tenant)}
    assert lines["a"]["tags"] == {"team": "ml", "user": "u/1"}
    assert lines["b"]["tags"] == {}
    assert set(lines["a"]) == ENTRY_KEYS | {"tags"}


def _walk(harness: Harness, tenant: Tenant, params: dict[str, str]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    answer = harness.get(HISTORY, tenant, params=params)
    while True:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"data", "nextCursor"}
        entries += body["data"]
        if body["nextCursor"] is None:
            return entries
        answer = harness.get(HISTORY, tenant, params={"cursor": body["nextCursor"]})


def test_history_filters_by_tags_across_pages(harness: Harness, tenant: Tenant) -> None:
    events = [_tagged(f"h{n}", tenant, {"project": ("search", "chat")[n % 2], "user": f"u{n % 3}"}
                      if n % 5 else None) for n in range(60)]
    record_ok(harness, events)
    other = harness.tenant("other")  # the same tags on another account never show
    record_ok(harness, [_tagged(f"h{n}", other, {"project": "search", "user": "u0"})
                        for n in range(5)])
    ids = lambda found: sorted(e["inferenceDetails"]["requestId"] for e in found)  # noqa: E731
    search = _walk(harness, tenant, {"tag.project": "search", "pageSize": "10"})
    assert ids(search) == sorted(f"h{n}" for n in range(60) if n % 5 and n % 2 == 0)
    assert all(set(e) == ENTRY_KEYS for e in search)
    both = _walk(harness, tenant, {"tag.project": "search", "tag.user": "u0", "pageSize": "10"})
    assert ids(both) == sorted(f"h{n}" for n in range(60) if n % 5 and n % 6 == 0)
    assert _walk(harness, tenant, {"tag.project": "Search"}) == []  # values are case-sensitive
    assert _walk(harness, tenant, {"tag.proj": "search"}) == []
    assert len(_walk(harness, tenant, {"pageSize": "10"})) == 60


@pytest.mark.parametrize(("params", "named"), [
    ({"tag.Project": "x"}, "tag.Project"),
    ({"tag.project": "x y"}, "tag.project"),
    ({"tag.project": ""}, "tag.project"),
    ({"tag.a": "1", "tag.b": "2", "tag.c": "3"}, "tag.<key>"),
])
def test_bad_history_tag_filters_are_named(harness: Harness, tenant: Tenant,
                                           params: dict[str, str], named: str) -> None:
    answer = harness.get(HISTORY, tenant, params=params)
    assert answer.status_code == 400, answer.text
    assert named_problem(answer, named)


def test_history_tag_filter_travels_in_the_cursor(harness: Harness, tenant: Tenant) -> None:
    record_ok(harness, [_tagged(f"c{n}", tenant, {"user": "u_" + "x" * 62, "team": "t" * 64})
                        for n in range(25)])
    first = harness.get(HISTORY, tenant, params={"tag.user": "u_" + "x" * 62,
                                                 "tag.team": "t" * 64, "pageSize": "10"})
    cursor = first.json()["nextCursor"]
    assert cursor is not None and len(cursor) <= 512
    again = harness.get(HISTORY, tenant, params={"cursor": cursor, "tag.user": "u"})
    assert again.status_code == 400
    assert named_problem(again, "tag.<key>")
    plain = harness.get(HISTORY, tenant, params={"pageSize": "10"}).json()["nextCursor"]
    assert plain != cursor and len(plain) == 112  # untagged walks keep their tokens

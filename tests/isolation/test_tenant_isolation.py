"""Tenant isolation, as properties: many accounts, several keys each, random queries on every
customer endpoint, and never an entry, a total, a key or a cursor of another account.

Every account's request ids, key ids and key descriptions carry its own tag, so anything that
leaks from another account is recognisable in any answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.factories import random_entries, store_entries
from tests.support.harness import Harness
from usagebook.ledger.accounts import create_account
from usagebook.ledger.balances import grant_credit, set_diem_allocation
from usagebook.ledger.keys import KeyType, create_key
from usagebook.store.engine import Database
from usagebook.store.rows import NewEntry
from usagebook.timeutil import MS_PER_DAY, format_ms, now_ms

ACCOUNTS = 4
USAGE = "/api/v1/billing/usage"
HISTORY = "/api/v1/billing/usage-history"
ANALYTICS = "/api/v1/billing/usage-analytics"
BALANCE = "/api/v1/billing/balance"
CREDITS = "/api/v1/billing/credits"
KEYS = "/api/v1/api_keys"
CURRENCIES = ("USD", "DIEM", "BUNDLED_CREDITS")


@dataclass
class Holder:
    """One account of the world: its secrets and everything stored for it."""

    tag: str
    account_id: str
    admin_keys: list[str] = field(default_factory=list)  # secrets
    key_ids: set[str] = field(default_factory=set)
    inference_key: str = ""
    request_ids: dict[str, str] = field(default_factory=dict)  # request id -> currency
    stamps: dict[str, int] = field(default_factory=dict)  # request id -> timestamp (ms)
    spend: dict[str, Decimal] = field(default_factory=dict)  # currency -> positive spend
    grants: dict[str, Decimal] = field(default_factory=dict)  # currency -> granted
    allocation: Decimal | None = None
    diem_today: Decimal = Decimal(0)  # today's DIEM spend
    entries: list[NewEntry] = field(default_factory=list)

    def auth(self, key: int = 0) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_keys[key % len(self.admin_keys)]}"}


def _make_holder(index: int, entries: int) -> Callable[[Database], Any]:
    async def make(db: Database) -> Holder:
        tag = f"tenant{index}x"
        account = await create_account(db, f"isolation {tag}")
        holder = Holder(tag, account.id)
        for n in range(2):
            created = await create_key(db, account.id, KeyType.ADMIN, f"{tag} admin {n}")
            holder.admin_keys.append(created.secret)
            holder.key_ids.add(created.row.id)
        inference = await create_key(db, account.id, KeyType.INFERENCE, f"{tag} inference")
        holder.inference_key = inference.secret
        await _grant(db, holder, index)
        made = random_entries(account.id, entries, seed=index, span_ms=20 * 86_400_000,
                              key_ids=(None, *sorted(holder.key_ids)))
        made = [replace(e, request_id=f"{tag}-{e.request_id}") for e in made]
        await store_entries(db, made)
        holder.entries = made
        for entry in made:
            holder.request_ids[entry.request_id or ""] = entry.currency
            holder.stamps[entry.request_id or ""] = entry.ts_ms
            spent = holder.spend.get(entry.currency, Decimal(0))
            holder.spend[entry.currency] = spent - entry.amount
            if entry.currency == "DIEM" and entry.ts_ms // MS_PER_DAY == now_ms() // MS_PER_DAY:
                holder.diem_today -= entry.amount
        return holder

    return make


async def _grant(db: Database, holder: Holder, index: int) -> None:
    """Grants and allocations that differ per account, with notes carrying the account's tag."""
    for currency, amount in (("USD", Decimal(100 + index)), ("BUNDLED_CREDITS", Decimal(index))):
        if amount:
            await grant_credit(db, holder.account_id, currency, amount, f"{holder.tag} grant")
            holder.grants[currency] = amount
    if index % 2:
        holder.allocation = Decimal(index) / 4
        await set_diem_allocation(db, holder.account_id, holder.allocation)


@pytest.fixture(scope="module")
def world(harness: Harness) -> list[Holder]:
    """Accounts of different sizes in the harness's database (which also holds every other
    test's accounts: those must never leak either)."""
    return [harness.call(_make_holder(i, entries)) for i, entries in
            enumerate((0, 7, 33, 120)[:ACCOUNTS])]


def foreign_tags(world: list[Holder], me: Holder) -> list[str]:
    return [h.tag for h in world if h is not me]


def assert_only_mine(text: str, world: list[Holder], me: Holder) -> None:
    """No other account's tag, id or key id anywhere in an answer."""
    for other in world:
        if other is not me:
            assert other.tag not in text and other.account_id not in text
            assert not any(key_id in text for key_id in other.key_ids)


callers = st.tuples(st.integers(0, ACCOUNTS - 1), st.integers(0, 1))
currencies = st.sampled_from((None, *CURRENCIES))
# A time window as two offsets back from now, in ms (entries lie within the last 20 days).
windows = st.one_of(st.none(), st.lists(st.integers(0, 21 * MS_PER_DAY), min_size=2,
                                        max_size=2).map(sorted))


def matching(me: Holder, currency: str | None, start: int | None = None,
             end: int | None = None, end_inclusive: bool = True) -> set[str]:
    """The caller's own request ids that a query with these filters must return."""
    return {
        rid for rid, cur in me.request_ids.items()
        if currency in (None, cur)
        and (start is None or me.stamps[rid] >= start)
        and (end is None or me.stamps[rid] < end or (end_inclusive and me.stamps[rid] == end))
    }


def window_bounds(window: list[int] | None, at_ms: int) -> tuple[int | None, int | None]:
    if window is None:
        return None, None
    return at_ms - window[1], at_ms - window[0] + 1  # +1: the end is later than the start


@given(caller=callers, currency=currencies, limit=st.integers(1, 500),
       page=st.integers(1, 4), order=st.sampled_from(("asc", "desc")),
       csv=st.booleans(), window=windows)
def test_usage_pages_hold_only_the_callers_entries(
    harness: Harness, world: list[Holder], caller: tuple[int, int], currency: str | None,
    limit: int, page: int, order: str, csv: bool, window: list[int] | None,
) -> None:
    me = world[caller[0]]
    params: dict[str, Any] = {"limit": limit, "page": page, "sortOrder": order}
    if currency:
        params["currency"] = currency
    start, end = window_bounds(window, now_ms())
    if start is not None and end is not None:
        params.update(startDate=format_ms(start), endDate=format_ms(end))
    headers = {**me.auth(caller[1]), "Accept": "text/csv" if csv else "application/json"}
    answer = harness.client.get(USAGE, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    assert_only_mine(answer.text, world, me)
    expected = matching(me, currency, start, end)
    assert int(answer.headers["x-pagination-total"]) == len(expected)
    if csv:
        return
    ids = [entry["inferenceDetails"]["requestId"] for entry in answer.json()["data"]]
    assert set(ids) <= set(expected)
    assert len(ids) == max(0, min(limit, len(expected) - (page - 1) * limit))


@given(caller=callers, currency=currencies, page_size=st.integers(10, 1000), window=windows)
def test_a_history_walk_returns_exactly_the_callers_entries(
    harness: Harness, world: list[Holder], caller: tuple[int, int], currency: str | None,
    page_size: int, window: list[int] | None,
) -> None:
    me = world[caller[0]]
    params: dict[str, Any] = {"pageSize": page_size}
    if currency:
        params["currency"] = currency
    start, end = window_bounds(window, now_ms())
    if start is not None and end is not None:
        params.update(startTimestamp=format_ms(start), endTimestamp=format_ms(end))
    seen: list[str] = []
    while True:
        answer = harness.client.get(HISTORY, params=params, headers=me.auth(caller[1]))
        assert answer.status_code == 200, answer.text
        assert_only_mine(answer.text, world, me)
        body = answer.json()
        seen += [entry["inferenceDetails"]["requestId"] for entry in body["data"]]
        if body["nextCursor"] is None:
            break
        params = {"cursor": body["nextCursor"]}
    assert sorted(seen) == sorted(matching(me, currency, start, end, end_inclusive=False))


@given(owner=callers, thief=callers, page_size=st.integers(10, 40))
def test_a_cursor_works_only_for_the_account_that_started_the_walk(
    harness: Harness, world: list[Holder], owner: tuple[int, int], thief: tuple[int, int],
    page_size: int,
) -> None:
    mine = world[3]  # the biggest account: its walk always has a next page
    first = harness.client.get(HISTORY, params={"pageSize": page_size},
                               headers=mine.auth(owner[1]))
    cursor = first.json()["nextCursor"]
    assert cursor is not None
    other = world[thief[0]]
    answer = harness.client.get(HISTORY, params={"cursor": cursor}, headers=other.auth(thief[1]))
    if other is mine:  # any ADMIN key of the same account may go on
        assert answer.status_code == 200
        assert_only_mine(answer.text, world, mine)
    else:
        assert answer.status_code == 400, answer.text
        assert_only_mine(answer.text, world, other)
    refused = harness.client.get(HISTORY, params={"cursor": cursor},
                                 headers={"Authorization": f"Bearer {other.inference_key}"})
    assert refused.status_code == 401


@given(caller=callers, days=st.integers(1, 120))
def test_analytics_count_only_the_callers_usage_and_keys(
    harness: Harness, world: list[Holder], caller: tuple[int, int], days: int,
) -> None:
    me = world[caller[0]]
    answer = harness.client.get(ANALYTICS, params={"lookback": f"{days}d"},
                                headers=me.auth(caller[1]))
    assert answer.status_code == 200, answer.text
    assert_only_mine(answer.text, world, me)
    body = answer.json(parse_float=Decimal)
    assert {row["apiKeyId"] for row in body["byKey"]} <= me.key_ids | {None}
    for row in body["byKey"]:
        assert row["apiKeyId"] is None or row["description"].startswith(me.tag)
    usd = sum((Decimal(str(row["USD"])) for row in body["byDate"]), Decimal(0))
    diem = sum((Decimal(str(row["DIEM"])) for row in body["byDate"]), Decimal(0))
    own_usd = me.spend.get("USD", Decimal(0)) + me.spend.get("BUNDLED_CREDITS", Decimal(0))
    own_diem = me.spend.get("DIEM", Decimal(0))
    if days >= 21:  # the whole of the account's usage (20 days back) is inside the period
        assert (usd, diem) == (own_usd, own_diem)
    else:
        assert usd <= own_usd and diem <= own_diem


@given(caller=callers)
def test_balances_and_credits_are_the_callers_own(
    harness: Harness, world: list[Holder], caller: tuple[int, int]
) -> None:
    me = world[caller[0]]
    credits = harness.client.get(CREDITS, headers=me.auth(caller[1]))
    balance = harness.client.get(BALANCE, headers=me.auth(caller[1]))
    assert credits.status_code == balance.status_code == 200, credits.text + balance.text
    for answer in (credits, balance):
        assert_only_mine(answer.text, world, me)
    body = credits.json(parse_float=Decimal)
    assert {g["notes"] for g in body["grants"]} <= {f"{me.tag} grant"}
    assert sorted((g["currency"], Decimal(str(g["amount"]))) for g in body["grants"]) == sorted(
        me.grants.items())
    for currency in ("USD", "BUNDLED_CREDITS"):
        expected = me.grants.get(currency, Decimal(0)) - me.spend.get(currency, Decimal(0))
        assert Decimal(str(body["balances"][currency])) == expected
    diem_left = None if me.allocation is None else me.allocation - me.diem_today
    served = body["balances"]["DIEM"]
    assert (None if served is None else Decimal(str(served))) == diem_left
    usd = balance.json(parse_float=Decimal)["balances"]["usd"]
    assert Decimal(str(usd)) == Decimal(str(body["balances"]["USD"]))


def test_unknown_ids_in_any_parameter_reach_nothing(harness: Harness, world: list[Holder]) -> None:
    """Parameters never select an account: another account's id or key id is just a bad value."""
    me, other = world[1], world[2]
    probes = [
        (USAGE, {"accountId": other.account_id}),
        (USAGE, {"apiKeyId": sorted(other.key_ids)[0]}),
        (HISTORY, {"accountId": other.account_id, "pageSize": 1000}),
        (ANALYTICS, {"apiKeyId": sorted(other.key_ids)[0], "lookback": "90d"}),
    ]
    for path, params in probes:
        answer = harness.client.get(path, params=params, headers=me.auth())
        assert answer.status_code in (200, 400), answer.text
        text = re.sub(re.escape(str(params)), "", answer.text)
        assert_only_mine(text, world, me)


def _seven_day_spend(me: Holder, key_id: str, at_ms: int) -> dict[str, str]:
    """A key's trailing-seven-day figures as /api_keys writes them, from the stored entries."""
    since = (at_ms // MS_PER_DAY - 6) * MS_PER_DAY
    usd = diem = Decimal(0)
    for entry in me.entries:
        if entry.api_key_id == key_id and entry.ts_ms >= since:
            if entry.currency == "DIEM":
                diem -= entry.amount
            else:
                usd -= entry.amount
    cut = Decimal("0.0001")
    return {"usd": f"{usd.quantize(cut, rounding=ROUND_DOWN)}", "vcu": "0.0000",
            "diem": f"{diem.quantize(cut, rounding=ROUND_DOWN)}"}


@given(caller=callers, target=st.integers(0, ACCOUNTS - 1))
def test_api_keys_show_and_touch_only_the_callers_keys(
    harness: Harness, world: list[Holder], caller: tuple[int, int], target: int
) -> None:
    me, owner = world[caller[0]], world[target]
    listed = harness.client.get(KEYS, headers=me.auth(caller[1]))
    assert listed.status_code == 200, listed.text
    assert_only_mine(listed.text, world, me)
    keys = {key["id"]: key for key in listed.json()["data"]}
    assert me.key_ids <= set(keys) and len(keys) == len(me.key_ids) + 1  # and its inference key
    at = now_ms()
    for key_id in me.key_ids:  # every figure is the key's own exact spend
        assert keys[key_id]["usage"]["trailingSevenDays"] == _seven_day_spend(me, key_id, at)
    for key_id in sorted(owner.key_ids):
        one = harness.client.get(f"{KEYS}/{key_id}", headers=me.auth(caller[1]))
        patch = harness.client.patch(KEYS, headers=me.auth(caller[1]),
                                     json={"id": key_id, "consumptionLimit": {"usd": 0}})
        if owner is me:
            assert one.status_code == 200 and one.json()["data"]["id"] == key_id
            assert patch.status_code == 200
            harness.client.patch(KEYS, headers=me.auth(caller[1]),
                                 json={"id": key_id, "consumptionLimit": {"usd": None}})
            continue
        assert one.status_code == 404 and patch.status_code == 400
        gone = harness.client.delete(KEYS, params={"id": key_id}, headers=me.auth(caller[1]))
        assert gone.status_code == 400
        for answer in (one, patch, gone):
            assert_only_mine(answer.text.replace(key_id, ""), world, me)
    # The owner's keys are untouched: still active, still without a limit.
    mine = harness.client.get(KEYS, headers=owner.auth()).json()["data"]
    assert {k["id"] for k in mine} >= owner.key_ids
    assert all(k["consumptionLimits"]["usd"] is None for k in mine)

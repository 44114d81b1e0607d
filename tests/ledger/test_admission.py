"""Properties of admission, on both databases.

- `choose_currency` against its definition, for any balances, limits and estimate;
- a model-based property: random sequences of authorize, settle (recording with `holdId`, for
  less or more than was held, or naming a hold no longer live) and waiting past expiries, for
  a key with a LIFETIME USD limit. Each authorize is granted exactly when the model says the
  room is there (limit - recorded spend - live holds), so holds plus spend never pass the
  limit except by recorded overspend, and the overspend reported equals the model's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.support.admission import Customer
from tests.support.harness import Harness
from tests.support.recording import IMAGE
from usagebook.errors import PaymentRequired
from usagebook.ledger.admission import ORDER, Refusal, Room, authorize, choose_currency
from usagebook.ledger.estimates import AuthorizeRequest, Estimate
from usagebook.ledger.events import Event
from usagebook.ledger.limits import limits_of
from usagebook.ledger.ratelimit import RateLimiter
from usagebook.ledger.recording import record
from usagebook.store.engine import Database
from usagebook.timeutil import now_ms

CLASS_OF = {"DIEM": "diem", "BUNDLED_CREDITS": "usd", "USD": "usd"}
CENT = Decimal("0.01")
money = st.decimals(min_value=-5, max_value=20, places=2)
maybe = st.none() | money


@given(estimate=st.decimals(min_value=0, max_value=10, places=2),
       available=st.fixed_dictionaries({c: maybe for c in ORDER}),
       key=st.fixed_dictionaries({"usd": maybe, "diem": maybe}),
       account=st.fixed_dictionaries({"usd": maybe, "diem": maybe}))
def test_choose_currency_follows_its_definition(
    estimate: Decimal, available: dict[str, Decimal | None], key: dict[str, Decimal | None],
    account: dict[str, Decimal | None],
) -> None:
    def covers(left: Decimal | None) -> bool:
        return left is not None and left > 0 and left >= estimate

    first = next((c for c in ORDER if covers(available[c])), None)
    choice = choose_currency(estimate, Room(available, key, account))
    if first is None:
        assert choice == Refusal("balance", None)
        return
    limit_class = CLASS_OF[first]
    if key[limit_class] is not None and not covers(key[limit_class]):
        assert choice == Refusal("key", limit_class)
    elif account[limit_class] is not None and not covers(account[limit_class]):
        assert choice == Refusal("account", limit_class)
    else:
        assert choice == first


Op = tuple[str, int, int]
ops = st.lists(st.one_of(
    st.tuples(st.just("authorize"), st.integers(1, 40), st.integers(1000, 5000)),
    st.tuples(st.just("settle"), st.integers(0, 30), st.integers(1, 50)),
    st.tuples(st.just("wait"), st.integers(0, 3000), st.just(0)),
), min_size=1, max_size=25)


@settings(max_examples=15)
@given(steps=ops)
# Found by hypothesis (a settled hold left in the model's live sum): kept as a fixed case.
@example(steps=[("authorize", 11, 1000), ("authorize", 39, 1000), ("authorize", 40, 1000),
                ("settle", 0, 11)])
def test_grants_follow_the_model_and_overspend_is_reported(
    harness: Harness, steps: list[Op]
) -> None:
    limit = Decimal("1")
    customer = Customer(harness, usd=str(limit), period="LIFETIME", credit="1000")
    harness.call(lambda db: _run(db, customer, steps, limit))


async def _run(db: Database, customer: Customer, steps: list[Op], limit: Decimal) -> None:
    limiter = RateLimiter(0)
    now = now_ms()
    spend = overspend = Decimal(0)
    holds: list[dict[str, Any]] = []  # granted: id, amount, expires, settled
    def live_holds() -> Decimal:
        return sum((h["amount"] for h in holds if not h["settled"] and h["expires"] > now),
                   Decimal(0))

    for number, (kind, a, b) in enumerate(steps):
        live = live_holds()
        if kind == "authorize":
            amount = CENT * a
            request = AuthorizeRequest(Estimate(amount=amount), api_key_id=customer.key_id,
                                       hold_seconds=b // 1000)
            try:
                grant = await authorize(db, limiter, request, at_ms=now)
            except PaymentRequired:
                assert limit - spend - live < amount, (number, spend, live)
                continue
            assert limit - spend - live >= amount, (number, spend, live)
            holds.append({"id": grant.hold.id, "amount": amount,
                          "expires": now + (b // 1000) * 1000, "settled": False})
        elif kind == "settle" and holds:
            hold = holds[a % len(holds)]
            cost = CENT * b
            event = Event(f"p-{number}", IMAGE, Decimal(b), api_key_id=customer.key_id,
                          hold_id=hold["id"])
            [result] = await record(db, [event], received_ms=now)
            assert result.status == "recorded"
            is_live = not hold["settled"] and hold["expires"] > now
            spend += cost
            overspend += max(Decimal(0), cost - hold["amount"]) if is_live else cost
            hold["settled"] = True
        elif kind == "wait":
            now += a
        assert spend + live_holds() <= limit + overspend
    report = await limits_of(db, customer.account_id, at_ms=now)
    assert report.overspend == {"usd": overspend, "diem": Decimal(0)}
    assert report.month_usage["usd"] == spend

"""The consumption order and the balance invariant: balance = grants - the exact sum of charges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tests.support.harness import Harness, Tenant
from tests.support.recording import audit_clean, dec, event, grant, record_ok, set_diem
from usagebook.ledger.balances import balance_of
from usagebook.store.engine import Database


def balance(harness: Harness, tenant: Tenant) -> dict[str, object]:
    answer = harness.get("/api/v1/billing/balance", tenant)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def currencies(
    harness: Harness, tenant: Tenant, units: list[str], prefix: str, **extra: object
) -> list[str]:
    """Record one image event per item (0.01 USD per unit) and return each one's currency."""
    results = record_ok(
        harness, [event(f"{prefix}{i}", tenant.account_id, u, **extra) for i, u in enumerate(units)]
    )
    return [r["entry"]["currency"] for r in results]


def test_diem_then_bundled_then_usd_each_may_go_below_zero(
    harness: Harness, tenant: Tenant
) -> None:
    set_diem(harness, tenant.account_id, "0.01")
    grant(harness, tenant.account_id, "BUNDLED_CREDITS", "0.02")
    grant(harness, tenant.account_id, "USD", "0.005")
    assert balance(harness, tenant) == {
        "canConsume": True,
        "consumptionCurrency": "DIEM",
        "balances": {"diem": 0.01, "usd": 0.005},
        "diemEpochAllocation": 0.01,
    }
    # 0.006 each: DIEM 0.01 -> 0.004 -> -0.002; BUNDLED 0.02 -> ... -> -0.004; USD below zero.
    got = currencies(harness, tenant, ["0.6"] * 8, "c")
    assert got == [
        "DIEM",
        "DIEM",
        "BUNDLED_CREDITS",
        "BUNDLED_CREDITS",
        "BUNDLED_CREDITS",
        "BUNDLED_CREDITS",
        "USD",
        "USD",
    ]
    assert balance(harness, tenant) == {
        "canConsume": False,
        "consumptionCurrency": None,
        "balances": {"diem": -0.002, "usd": -0.007},
        "diemEpochAllocation": 0.01,
    }
    assert currencies(harness, tenant, ["1"], "none") == ["USD"]  # never refused
    credits = harness.get("/api/v1/billing/credits", tenant).json()
    assert credits["balances"] == {"USD": -0.017, "BUNDLED_CREDITS": -0.004, "DIEM": -0.002}
    grant(harness, tenant.account_id, "BUNDLED_CREDITS", "1")
    assert balance(harness, tenant)["consumptionCurrency"] == "BUNDLED_CREDITS"
    audit_clean(harness, tenant.account_id)


def test_without_any_credit_charges_go_to_usd(harness: Harness, tenant: Tenant) -> None:
    assert currencies(harness, tenant, ["1", "2"], "u") == ["USD", "USD"]
    assert balance(harness, tenant) == {
        "canConsume": False,
        "consumptionCurrency": None,
        "balances": {"diem": None, "usd": -0.03},
        "diemEpochAllocation": 0,
    }


def test_diem_counts_against_the_entrys_own_utc_day(harness: Harness, tenant: Tenant) -> None:
    now = datetime.now(UTC)
    earlier = now - timedelta(hours=23)
    set_diem(harness, tenant.account_id, "0.01")
    grant(harness, tenant.account_id, "USD", "5")
    assert currencies(harness, tenant, ["1", "1"], "today") == ["DIEM", "USD"]
    stamp = earlier.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    got = currencies(harness, tenant, ["1", "1"], "earlier", timestamp=stamp)
    if earlier.date() != now.date():  # yesterday: its own allocation, untouched so far
        assert got == ["DIEM", "USD"]
    else:  # after 23:00 UTC, 23 hours ago is still today, whose DIEM is spent
        assert got == ["USD", "USD"]
    view = harness.call(lambda db: balance_of(db, tenant.account_id))
    assert view.diem_left == 0
    audit_clean(harness, tenant.account_id)


def test_diem_resets_at_midnight(harness: Harness, tenant: Tenant) -> None:
    set_diem(harness, tenant.account_id, "0.01")
    assert currencies(harness, tenant, ["1"], "m") == ["DIEM"]
    tomorrow = datetime.now(UTC) + timedelta(days=1)

    async def look(db: Database) -> object:
        return await balance_of(db, tenant.account_id, at_ms=int(tomorrow.timestamp() * 1000))

    view = harness.call(look)
    assert view.diem_left == Decimal("0.01")  # type: ignore[attr-defined]


amounts = st.decimals(min_value=Decimal("0.000000001"), max_value=Decimal(50), places=9)


@given(
    grants=st.lists(
        st.tuples(st.sampled_from(["USD", "BUNDLED_CREDITS"]), amounts, st.booleans()), max_size=4
    ),
    allocation=st.one_of(st.none(), st.decimals(min_value=0, max_value=2, places=9)),
    units=st.lists(st.lists(amounts, min_size=1, max_size=5), min_size=1, max_size=4),
)
def test_balance_is_grants_minus_the_exact_sum_of_charges(
    harness: Harness,
    grants: list[tuple[str, Decimal, bool]],
    allocation: Decimal | None,
    units: list[list[Decimal]],
) -> None:
    tenant = harness.tenant("property")
    set_diem(harness, tenant.account_id, None if allocation is None else str(allocation))
    signed = [(currency, -amount if negative else amount) for currency, amount, negative in grants]
    for currency, amount in signed:  # a negative grant is an adjustment
        grant(harness, tenant.account_id, currency, str(amount))
    charged: dict[str, Decimal] = {}
    for number, batch in enumerate(units):
        results = record_ok(
            harness,
            [event(f"p{number}-{i}", tenant.account_id, str(u)) for i, u in enumerate(batch)],
        )
        for result in results:
            entry = result["entry"]
            charged[entry["currency"]] = charged.get(entry["currency"], Decimal(0)) - dec(
                entry["amount"]
            )
    credits = harness.get("/api/v1/billing/credits", tenant).json()
    for currency in ("USD", "BUNDLED_CREDITS"):
        granted = sum((a for c, a in signed if c == currency), Decimal(0))
        assert dec(credits["balances"][currency]) == granted - charged.get(currency, Decimal(0))
    if allocation is not None:
        assert dec(credits["balances"]["DIEM"]) == allocation - charged.get("DIEM", Decimal(0))
    else:
        assert credits["balances"]["DIEM"] is None and "DIEM" not in charged
    audit_clean(harness, tenant.account_id)

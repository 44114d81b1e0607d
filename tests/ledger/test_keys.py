"""The ledger's key functions (shared by HTTP and the CLI): settings and limits are stored and
read back exactly, updates change only what they name, the 500-active-keys cap, and revocation
reaches only the caller's own account (both databases)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests.support.harness import Harness, Tenant
from usagebook.errors import InvalidInput, NotFound
from usagebook.ledger import keys
from usagebook.ledger.key_usage import LimitPeriod
from usagebook.ledger.keys import KeyLimits, KeyOptions, KeyType, KeyUpdate, ModelPrivacy
from usagebook.store.engine import Database
from usagebook.timeutil import now_ms

LIMITS = KeyLimits(usd=Decimal("12.345678901"), diem=Decimal(0), vcu=None)


def _create(harness: Harness, tenant: Tenant, **options: object) -> keys.CreatedKey:
    made = KeyOptions(**options)  # type: ignore[arg-type]
    return harness.call(lambda db: keys.create_key(db, tenant.account_id, KeyType.INFERENCE,
                                                   options=made))


def test_settings_are_stored_exactly(harness: Harness, tenant: Tenant) -> None:
    created = _create(harness, tenant, description="capped", limits=LIMITS,
                      limit_period=LimitPeriod.MONTH, model_privacy=ModelPrivacy.PRIVATE_ONLY)
    row = harness.call(lambda db: keys.get_key(db, created.row.id, tenant.account_id))
    assert row == created.row
    assert (row.limit_usd, row.limit_diem, row.limit_vcu) == (Decimal("12.345678901"), 0, None)
    assert (row.limit_period, row.model_privacy) == ("MONTH", "PRIVATE_ONLY")
    assert row.last6 == created.secret[-6:] and len(row.last6) == 6
    defaults = _create(harness, tenant).row
    assert (defaults.limit_usd, defaults.limit_period, defaults.model_privacy) == (
        None, "EPOCH", "ALL")


def test_bad_settings_are_all_named(harness: Harness, tenant: Tenant) -> None:
    with pytest.raises(InvalidInput) as raised:
        _create(harness, tenant, description="x" * 65, expires_ms=now_ms() - 1,
                limits=KeyLimits(usd=Decimal(-1), diem=Decimal("10000000000")))
    assert set(raised.value.problems) == {"description", "expires_ms", "limits.usd",
                                          "limits.diem"}


def test_an_update_changes_only_what_it_names(harness: Harness, tenant: Tenant) -> None:
    created = _create(harness, tenant, description="before", limits=LIMITS,
                      expires_ms=now_ms() + 3_600_000)
    update = KeyUpdate(limits={"diem": Decimal(5)}, limit_period=LimitPeriod.LIFETIME)
    row = harness.call(lambda db: keys.update_key(db, created.row.id, update, tenant.account_id))
    assert (row.limit_usd, row.limit_diem, row.limit_vcu) == (LIMITS.usd, 5, None)
    assert (row.description, row.expires_ms, row.limit_period) == (
        "before", created.row.expires_ms, "LIFETIME")
    cleared = harness.call(lambda db: keys.update_key(
        db, created.row.id, KeyUpdate(expires_ms=None, description="after"), tenant.account_id))
    assert (cleared.expires_ms, cleared.description) == (None, "after")


def test_keys_of_another_account_are_not_found(harness: Harness, tenant: Tenant) -> None:
    other = harness.tenant("other")
    key_id = other.inference_key_id
    for work in (
        lambda db: keys.get_key(db, key_id, tenant.account_id),
        lambda db: keys.update_key(db, key_id, KeyUpdate(description="x"), tenant.account_id),
        lambda db: keys.revoke_key(db, key_id, account_id=tenant.account_id),
    ):
        with pytest.raises(NotFound):
            harness.call(work)
    assert harness.call(lambda db: keys.get_key(db, key_id)).revoked_ms is None


def test_a_caller_cannot_revoke_its_own_key(harness: Harness, tenant: Tenant) -> None:
    with pytest.raises(InvalidInput):
        harness.call(lambda db: keys.revoke_key(db, tenant.admin_key_id,
                                                account_id=tenant.account_id,
                                                caller_key_id=tenant.admin_key_id))
    harness.call(lambda db: keys.revoke_key(db, tenant.inference_key_id,
                                            account_id=tenant.account_id,
                                            caller_key_id=tenant.admin_key_id))
    with pytest.raises(NotFound):  # a revoked key can no longer be updated
        harness.call(lambda db: keys.update_key(db, tenant.inference_key_id,
                                                KeyUpdate(description="x"), tenant.account_id))


def test_an_account_has_at_most_500_active_keys(harness: Harness, tenant: Tenant) -> None:
    async def fill(db: Database) -> None:
        for n in range(keys.MAX_ACTIVE_KEYS - 2):  # the tenant has two already
            await keys.create_key(db, tenant.account_id, KeyType.INFERENCE, f"k{n}")

    harness.call(fill)
    with pytest.raises(InvalidInput):
        _create(harness, tenant)
    # A revoked key no longer counts.
    harness.call(lambda db: keys.revoke_key(db, tenant.inference_key_id))
    assert _create(harness, tenant).row.account_id == tenant.account_id


@pytest.mark.parametrize("limit", ["NaN", "Infinity", "-0.000000001", "0.0000000001",
                                   "9999999999.000000001"])
def test_a_limit_is_exact_money_in_range(harness: Harness, tenant: Tenant, limit: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        _create(harness, tenant, limits=KeyLimits(vcu=Decimal(limit)))
    assert set(raised.value.problems) == {"limits.vcu"}


def test_the_cap_holds_under_concurrent_creations(harness: Harness, tenant: Tenant) -> None:
    async def race(db: Database) -> list[bool]:
        for n in range(keys.MAX_ACTIVE_KEYS - 2 - 4):  # four places left
            await keys.create_key(db, tenant.account_id, KeyType.INFERENCE, f"k{n}")

        async def one() -> bool:
            try:
                await keys.create_key(db, tenant.account_id, KeyType.INFERENCE, "racer")
            except InvalidInput:
                return False
            return True

        return list(await asyncio.gather(*(one() for _ in range(12))))

    assert sorted(harness.call(race)) == [False] * 8 + [True] * 4
    active = harness.call(lambda db: keys.list_keys(db, tenant.account_id, active_only=True))
    assert len(active) == keys.MAX_ACTIVE_KEYS

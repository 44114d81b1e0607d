"""Helpers for admission tests: keys with limits, authorize calls, holds read back."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.support.harness import Harness
from tests.support.recording import OPERATOR, grant
from usagebook.ledger.accounts import create_account
from usagebook.ledger.key_usage import LimitPeriod
from usagebook.ledger.keys import KeyLimits, KeyOptions, KeyType, create_key
from usagebook.store.engine import Database

AUTHORIZE_PATH = "/api/v1/usage/authorize"
LIMITS_PATH = "/api/v1/billing/limits"


def key_limit_text(currency: str) -> str:
    """Venice's text, written out here (not imported) so a change to it fails a test."""
    return (f"API key {currency} spend limit exceeded. Your account may still have {currency} "
            f"balance, but this API key has reached its configured {currency} spending limit.")


class Customer:
    """An account with an ADMIN key and one INFERENCE key carrying the given limits."""

    def __init__(self, harness: Harness, *, usd: str | None = None, diem: str | None = None,
                 period: str = "EPOCH", credit: str | None = "100") -> None:
        async def make(db: Database) -> tuple[str, str, str, str, str]:
            account = await create_account(db, "admission test")
            admin = await create_key(db, account.id, KeyType.ADMIN, "admin")
            limits = KeyLimits(usd=None if usd is None else Decimal(usd),
                               diem=None if diem is None else Decimal(diem))
            options = KeyOptions("limited", limits=limits, limit_period=LimitPeriod(period))
            key = await create_key(db, account.id, KeyType.INFERENCE, options=options)
            return account.id, admin.secret, admin.row.id, key.row.id, key.secret

        self.harness = harness
        (self.account_id, self.admin_secret, self.admin_key_id, self.key_id,
         self.secret) = harness.call(make)
        if credit is not None:
            grant(harness, self.account_id, "USD", credit)

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_secret}"}

    def authorize(self, estimate: Any, **extra: Any) -> Any:
        body = {"apiKeyId": self.key_id, "estimate": estimate, **extra}
        return self.harness.client.post(AUTHORIZE_PATH, json=body, headers=OPERATOR)

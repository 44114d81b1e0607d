"""GET /billing/balance (Venice's shape) and GET /billing/credits (usagebook's own), ADMIN key."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from usagebook.api.deps import AdminCaller, DatabaseDep
from usagebook.api.exact_json import ExactJSONResponse
from usagebook.api.schemas import ExactNumber, StoredCurrency, Timestamp, error_responses
from usagebook.ledger.balances import BUNDLED, DIEM, USD, BalanceView, balance_of
from usagebook.strict_model import StrictModel
from usagebook.timeutil import format_ms

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])


class BalanceFigures(StrictModel):
    diem: ExactNumber | None
    usd: ExactNumber | None


class Balance(StrictModel):
    canConsume: bool
    consumptionCurrency: Literal["USD", "DIEM", "BUNDLED_CREDITS"] | None
    balances: BalanceFigures
    diemEpochAllocation: ExactNumber


class CreditFigures(StrictModel):
    USD: ExactNumber
    BUNDLED_CREDITS: ExactNumber
    DIEM: ExactNumber | None


class Grant(StrictModel):
    timestamp: Timestamp
    currency: StoredCurrency
    amount: ExactNumber
    notes: str | None


class Credits(StrictModel):
    balances: CreditFigures
    diemEpochAllocation: ExactNumber
    grants: list[Grant]


@router.get(
    "/balance",
    response_class=ExactJSONResponse,
    summary="What is left to spend, and the currency the next charge uses",
    responses={200: {"model": Balance}, **error_responses(401, 429, 500, 503)},
)
async def get_balance(caller: AdminCaller, database: DatabaseDep) -> ExactJSONResponse:
    view = await balance_of(database, caller.account_id)
    return ExactJSONResponse(
        {
            "canConsume": view.consumption_currency is not None,
            "consumptionCurrency": view.consumption_currency,
            "balances": {"diem": view.diem_left, "usd": view.credits[USD]},
            "diemEpochAllocation": _allocation(view),
        }
    )


@router.get(
    "/credits",
    response_class=ExactJSONResponse,
    summary="Balances in every currency and the grants behind them, newest first",
    responses={200: {"model": Credits}, **error_responses(401, 429, 500, 503)},
)
async def get_credits(caller: AdminCaller, database: DatabaseDep) -> ExactJSONResponse:
    view = await balance_of(database, caller.account_id, with_grants=True)
    return ExactJSONResponse(
        {
            "balances": {
                USD: view.credits[USD],
                BUNDLED: view.credits[BUNDLED],
                DIEM: view.diem_left,
            },
            "diemEpochAllocation": _allocation(view),
            "grants": [
                {
                    "timestamp": format_ms(g.created_ms),
                    "currency": g.currency,
                    "amount": g.amount,
                    "notes": g.notes,
                }
                for g in view.grants
            ],
        }
    )


def _allocation(view: BalanceView) -> object:
    # Venice's schema makes the allocation a number: an account without one has 0.
    return view.diem_allocation if view.diem_allocation is not None else 0

"""`usagebook limits ...`: an account's monthly spending limits, its month's usage and overspend.
The same ledger functions as PUT/GET /api/v1/billing/limits (`ledger.limits`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer

from usagebook.api.limits_wire import parse_limits
from usagebook.cli.common import DatabaseUrl, JsonFlag, emit, run, settings_for
from usagebook.cli.help import PlainGroup
from usagebook.ledger import limits
from usagebook.money import format_decimal
from usagebook.settings import Settings

limits_app = typer.Typer(help="Account-level monthly spending limits.", no_args_is_help=True,
                         cls=PlainGroup)
NO_LIMIT = "none"
Account = Annotated[str, typer.Option("--account", help="Account id (acct_...).")]


@limits_app.command("set")
def limits_set(
    account: Account,
    monthly_usd: Annotated[str, typer.Option(
        help=f"USD and bundled credits the account may spend per UTC month ('{NO_LIMIT}': no "
             "limit).")] = NO_LIMIT,
    monthly_diem: Annotated[str, typer.Option(
        help=f"DIEM the account may spend per UTC month ('{NO_LIMIT}': no limit).")] = NO_LIMIT,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Set (replace) the monthly limits; authorize refuses a hold beyond them."""
    body = {wire: None if value.strip().lower() == NO_LIMIT else value
            for wire, value in (("monthlyUsd", monthly_usd), ("monthlyDiem", monthly_diem))}
    settings = settings_for(database_url)
    # Parsed inside `run`, which turns InvalidInput into one FAILED line.
    run(settings, lambda db: limits.set_limits(db, account, parse_limits(body)))
    _show(settings, account, as_json)


@limits_app.command("show")
def limits_show(account: Account, database_url: DatabaseUrl = None,
                as_json: JsonFlag = False) -> None:
    """Show the monthly limits, this month's usage and its overspend."""
    _show(settings_for(database_url), account, as_json)


def _show(settings: Settings, account: str, as_json: bool) -> None:
    report = run(settings, lambda db: limits.limits_of(db, account))
    usage, over = report.month_usage, report.overspend
    emit(as_json,
         {"accountId": account, "monthlyUsd": _text(report.limits.usd),
          "monthlyDiem": _text(report.limits.diem),
          "currentMonthUsage": {name: _text(value) for name, value in usage.items()},
          "overspend": {name: _text(value) for name, value in over.items()}},
         f"Monthly limits of {account}: USD {_text(report.limits.usd) or NO_LIMIT}, DIEM "
         f"{_text(report.limits.diem) or NO_LIMIT}. This month: used USD {_text(usage['usd'])}, "
         f"DIEM {_text(usage['diem'])}; overspend USD {_text(over['usd'])}, DIEM "
         f"{_text(over['diem'])}.")


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format_decimal(value)

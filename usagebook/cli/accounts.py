"""The `accounts`, `credits` and `prices` commands: accounts, the credit granted to them and
the SKU price list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column, Table

from usagebook.cli.common import DatabaseUrl, JsonFlag, emit, print_table, run, settings_for
from usagebook.cli.help import PlainGroup
from usagebook.cli.price_list import COLUMN_NAMES, read_price_list
from usagebook.ledger import accounts, balances, pricing
from usagebook.ledger.catalog import list_catalog
from usagebook.money import format_decimal

accounts_app = typer.Typer(help="Manage accounts.", no_args_is_help=True, cls=PlainGroup)
prices_app = typer.Typer(help="Manage the SKU price list.", no_args_is_help=True, cls=PlainGroup)
credits_app = typer.Typer(help="Grant credit to accounts.", no_args_is_help=True, cls=PlainGroup)


@accounts_app.command("create")
def accounts_create(name: str, database_url: DatabaseUrl = None, as_json: JsonFlag = False) -> None:
    """Create an account and print its id."""
    account = run(settings_for(database_url, existing=False),
                  lambda db: accounts.create_account(db, name))
    emit(as_json, {"id": account.id, "name": account.name}, account.id)


@accounts_app.command("set-diem")
def accounts_set_diem(
    account: Annotated[str, typer.Option("--account", help="Account id (acct_...).")],
    allocation: Annotated[str, typer.Option(help="DIEM per UTC day; `none` removes it.")],
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Set the DIEM allocation that every UTC day starts with."""
    value = None if allocation.strip().lower() == "none" else allocation
    made = run(settings_for(database_url),
               lambda db: balances.set_diem_allocation(db, account, value))
    emit(as_json, {"accountId": account,
                   "diemAllocation": None if made is None else format_decimal(made)},
         f"DIEM allocation of {account}: {made if made is not None else 'none'} per day.")


@credits_app.command("grant")
def credits_grant(
    account: Annotated[str, typer.Option("--account", help="Account id (acct_...).")],
    currency: Annotated[str, typer.Option(help="USD or BUNDLED_CREDITS.")],
    amount: Annotated[str, typer.Option(help="Exact decimal; negative for an adjustment.")],
    note: Annotated[str | None, typer.Option(help="Why: purchase, refund, promotion...")] = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Grant credit (or adjust it) in USD or BUNDLED_CREDITS, with a note."""
    made = run(settings_for(database_url),
               lambda db: balances.grant_credit(db, account, currency, amount, note))
    emit(as_json, {"accountId": account, "currency": made.currency,
                   "amount": format_decimal(made.amount), "notes": made.notes},
         f"Granted {made.amount} {made.currency} to {account}.")


@prices_app.command("import")
def prices_import(file: Path, database_url: DatabaseUrl = None, as_json: JsonFlag = False) -> None:
    """Load a price list (CSV with a header row, or JSON); it prices events recorded from now
    on, while stored entries keep the price they were charged."""
    count = run(settings_for(database_url, existing=False),
                lambda db: pricing.import_prices(db, read_price_list(file)), names=COLUMN_NAMES)
    emit(as_json, {"file": str(file), "skus": count}, f"Imported {count} SKU prices.")


@prices_app.command("list")
def prices_list(database_url: DatabaseUrl = None, as_json: JsonFlag = False) -> None:
    """List the SKU catalog and its current prices."""
    rows = run(settings_for(database_url), list_catalog)
    listed = [{"sku": r.sku, "modelId": r.model_id, "modelName": r.model_name,
               "modelType": r.model_type, "unitType": r.unit_type,
               "unitTypePerUnit": format_decimal(r.unit_type_per_unit),
               "usageType": r.usage_type,
               "pricePerUnitUsd": format_decimal(r.price_per_unit_usd)} for r in rows]
    if as_json:
        emit(True, {"skus": listed}, "")
        return
    table = Table(Column("sku", no_wrap=True), "model", "usage", "unit", "USD per unit")
    for item in listed:
        table.add_row(item["sku"], item["modelName"], item["usageType"], item["unitType"],
                      item["pricePerUnitUsd"])
    print_table(table)

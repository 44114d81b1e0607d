"""`usagebook keys ...`: create, list, update and revoke API keys, with their spending limits.
The same ledger functions as the HTTP API (`ledger.keys`), so each rule has one owner."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from usagebook.cli.common import DatabaseUrl, JsonFlag, emit, fail, print_table, run, settings_for
from usagebook.cli.help import PlainGroup
from usagebook.ledger import keys
from usagebook.ledger.key_usage import LimitPeriod
from usagebook.ledger.keys import KEEP, Keep, KeyLimits, KeyOptions, KeyUpdate
from usagebook.ledger.records import KeyRow
from usagebook.money import format_decimal
from usagebook.timeutil import format_ms, to_ms

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True, cls=PlainGroup)
NO_LIMIT = "none"
# The options that set KeyOptions' and KeyUpdate's fields, as a FAILED line names them.
KEY_OPTIONS = {"description": "description", "expires_ms": "expires", "limits.usd": "limit-usd",
               "limits.diem": "limit-diem"}
Account = Annotated[str, typer.Option("--account", help="Account id (acct_...).")]
LimitText = Annotated[str | None, typer.Option(
    help=f"Spending limit per window as a decimal (0 forbids the currency; '{NO_LIMIT}' = no "
         "limit). USD counts USD and bundled credits.")]
Period = Annotated[LimitPeriod | None, typer.Option(
    "--limit-period", help="The limits' window: EPOCH (UTC day), MONTH (UTC month), LIFETIME.")]


def _limit(option: str, text: str | None) -> Decimal | Keep | None:
    """An option's limit: KEEP when not given, None for `none`, else the exact decimal."""
    if text is None:
        return KEEP
    if text.strip().lower() == NO_LIMIT:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        fail(f"{option}: not a decimal number: {text!r}")
        raise  # unreachable: fail exits
    return value


def _limits(usd: str | None, diem: str | None) -> dict[str, Decimal | None]:
    given = {"usd": _limit("--limit-usd", usd), "diem": _limit("--limit-diem", diem)}
    return {name: value for name, value in given.items() if not isinstance(value, Keep)}


def key_json(row: KeyRow) -> dict[str, Any]:
    return {"id": row.id, "type": row.key_type, "description": row.description,
            "created": format_ms(row.created_ms),
            "revoked": format_ms(row.revoked_ms) if row.revoked_ms else None,
            "expires": format_ms(row.expires_ms) if row.expires_ms else None,
            "limits": {name: _text(getattr(row, f"limit_{name}")) for name in ("usd", "diem",
                                                                              "vcu")},
            "limitPeriod": row.limit_period}


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format_decimal(value)


@keys_app.command("create")
def keys_create(
    account: Account,
    key_type: Annotated[keys.KeyType, typer.Option("--type", help="ADMIN or INFERENCE.")],
    description: Annotated[str, typer.Option(help="Shown in analytics.")] = "",
    expires: Annotated[datetime | None, typer.Option(help="ISO 8601 expiry (UTC).")] = None,
    limit_usd: LimitText = None,
    limit_diem: LimitText = None,
    limit_period: Period = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API key. The secret is printed once and never stored."""
    options = KeyOptions(description, to_ms(expires) if expires else None,
                         KeyLimits(**_limits(limit_usd, limit_diem)),
                         limit_period or LimitPeriod.EPOCH)
    created = run(settings_for(database_url),
                  lambda db: keys.create_key(db, account, key_type, options=options),
                  names=KEY_OPTIONS)
    payload = {"id": created.row.id, "key": created.secret, "type": created.row.key_type,
               "description": created.row.description, "accountId": created.row.account_id}
    emit(as_json, payload, f"{created.row.id}\n{created.secret}\n(the secret is shown only once)")


@keys_app.command("list")
def keys_list(account: Account, database_url: DatabaseUrl = None,
              as_json: JsonFlag = False) -> None:
    """List an account's keys (never their secrets), with their limits."""
    rows = run(settings_for(database_url), lambda db: keys.list_keys(db, account))
    listed = [key_json(row) for row in rows]
    if as_json:
        emit(True, {"accountId": account, "keys": listed}, "")
        return
    table = Table(Column("id", no_wrap=True), "type", "description",
                  Column("created", no_wrap=True), "revoked", "expires", "limit usd",
                  "limit diem", "period")
    for item in listed:
        limits = item["limits"]
        table.add_row(*(str(item[name] or "") for name in
                        ("id", "type", "description", "created", "revoked", "expires")),
                      limits["usd"] or "", limits["diem"] or "", item["limitPeriod"])
    print_table(table)


@keys_app.command("update")
def keys_update(
    key_id: str,
    description: Annotated[str | None, typer.Option(help="A new description.")] = None,
    expires: Annotated[datetime | None, typer.Option(help="A new ISO 8601 expiry (UTC).")] = None,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="Remove the expiry.")] = False,
    limit_usd: LimitText = None,
    limit_diem: LimitText = None,
    limit_period: Period = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a key's description, expiry or limits; what is not given stays."""
    if no_expiry and expires is not None:
        fail("--expires and --no-expiry contradict each other")
    expiry: int | Keep | None = None if no_expiry else (to_ms(expires) if expires else KEEP)
    update = KeyUpdate(description, expiry, _limits(limit_usd, limit_diem), limit_period)
    row = run(settings_for(database_url), lambda db: keys.update_key(db, key_id, update),
              names=KEY_OPTIONS)
    emit(as_json, key_json(row), f"Updated {key_id}")


@keys_app.command("revoke")
def keys_revoke(key_id: str, database_url: DatabaseUrl = None, as_json: JsonFlag = False) -> None:
    """Revoke a key: every server refuses it within 5 s (at once with Redis configured)."""
    run(settings_for(database_url), lambda db: keys.revoke_key(db, key_id))
    emit(as_json, {"id": key_id, "revoked": True}, f"Revoked {key_id}")

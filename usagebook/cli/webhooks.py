"""`usagebook webhooks ...` and `usagebook alerts ...`: the same ledger functions as the HTTP
API, for one account named by --account; `--json` prints what the API would answer."""

from __future__ import annotations

from typing import Annotated

import typer

from usagebook.api.webhook_schemas import alerts_to_wire, delivery_to_wire, webhook_to_wire
from usagebook.cli.common import DatabaseUrl, JsonFlag, emit, fail, run, settings_for
from usagebook.cli.help import PlainGroup
from usagebook.ledger import alerts, webhooks
from usagebook.ledger.webhooks import EndpointChange
from usagebook.timeutil import parse_date_time, to_ms

webhooks_app = typer.Typer(help="Manage webhook endpoints and their deliveries.",
                           no_args_is_help=True, cls=PlainGroup)
alerts_app = typer.Typer(help="Alert settings: key thresholds and balance alerts.",
                         no_args_is_help=True, cls=PlainGroup)

Account = Annotated[str, typer.Option("--account", help="Account id (acct_...).")]
# The options that stand for the ledger's field names, in FAILED lines (usagebook.errors).
WEBHOOK_OPTIONS = {"event_types": "event-type", "event_id": "event-id", "since": "since",
                   "until": "until"}
ALERT_OPTIONS = {"key_thresholds": "key-threshold", "balance_below": "balance-below"}
EventTypes = Annotated[list[str] | None, typer.Option(
    "--event-type", help="An event type to receive (repeat the option for several).")]


@webhooks_app.command("create")
def create(account: Account, url: Annotated[str, typer.Option(help="http(s) URL.")],
           event_type: EventTypes = None, description: str | None = None,
           database_url: DatabaseUrl = None, as_json: JsonFlag = False) -> None:
    """Register an endpoint. Its signing secret is printed once."""
    settings = settings_for(database_url)
    row = run(settings, lambda db: webhooks.create_endpoint(
        db, account, url, list(event_type or []), description,
        allow_private=settings.webhook_allow_private), names=WEBHOOK_OPTIONS)
    emit(as_json, webhook_to_wire(row, secret=True),
         f"{row.id}\n{row.secret}\n(the secret is shown only once)")


@webhooks_app.command("list")
def list_(account: Account, database_url: DatabaseUrl = None, as_json: JsonFlag = False) -> None:
    """List an account's endpoints (never their secrets)."""
    rows = run(settings_for(database_url), lambda db: webhooks.list_endpoints(db, account))
    emit(as_json, {"data": [webhook_to_wire(row) for row in rows]},
         "\n".join(f"{r.id}  {'enabled ' if r.enabled else 'disabled'}  {r.url}  "
                   f"{','.join(r.event_types)}" for r in rows) or "(no endpoints)")


@webhooks_app.command("update")
def update(webhook_id: str, account: Account, url: str | None = None,
           event_type: EventTypes = None, description: str | None = None,
           enabled: Annotated[bool | None, typer.Option("--enable/--disable")] = None,
           database_url: DatabaseUrl = None, as_json: JsonFlag = False) -> None:
    """Change an endpoint's URL, event types, description or enabled state."""
    settings = settings_for(database_url)
    change = EndpointChange(url=url, event_types=event_type, enabled=enabled,
                            **({"description": description} if description is not None else {}))
    row = run(settings, lambda db: webhooks.update_endpoint(
        db, account, webhook_id, change, allow_private=settings.webhook_allow_private),
        names=WEBHOOK_OPTIONS)
    emit(as_json, webhook_to_wire(row), f"Updated {row.id}.")


@webhooks_app.command("delete")
def delete(webhook_id: str, account: Account, database_url: DatabaseUrl = None,
           as_json: JsonFlag = False) -> None:
    """Delete an endpoint and its delivery log."""
    run(settings_for(database_url), lambda db: webhooks.delete_endpoint(db, account, webhook_id))
    emit(as_json, {"id": webhook_id, "deleted": True}, f"Deleted {webhook_id}.")


@webhooks_app.command("rotate-secret")
def rotate_secret(webhook_id: str, account: Account, database_url: DatabaseUrl = None,
                  as_json: JsonFlag = False) -> None:
    """A new secret (printed once); the old one also signs for 24 hours."""
    secret = run(settings_for(database_url),
                 lambda db: webhooks.rotate_secret(db, account, webhook_id))
    emit(as_json, {"secret": secret}, secret)


@webhooks_app.command("deliveries")
def deliveries(webhook_id: str, account: Account,
               limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
               database_url: DatabaseUrl = None, as_json: JsonFlag = False) -> None:
    """The endpoint's delivery log, newest first."""
    rows = run(settings_for(database_url),
               lambda db: webhooks.list_deliveries(db, account, webhook_id, limit))
    emit(as_json, {"data": [delivery_to_wire(row) for row in rows]},
         "\n".join(f"{r.event_id}  {r.type}  {r.status}  attempts={r.attempts}  "
                   f"status={r.response_status}" for r in rows) or "(no deliveries)")


@webhooks_app.command("replay")
def replay(webhook_id: str, account: Account, event_id: str | None = None,
           since: str | None = None, until: str | None = None,
           database_url: DatabaseUrl = None, as_json: JsonFlag = False) -> None:
    """Deliver again one event (--event-id), or those created in [--since, --until)."""
    bounds = [_instant(name, text) for name, text in (("since", since), ("until", until))]
    queued = run(settings_for(database_url), lambda db: webhooks.replay(
        db, account, webhook_id, event_id=event_id, since_ms=bounds[0], until_ms=bounds[1]),
        names=WEBHOOK_OPTIONS)
    emit(as_json, {"queued": queued}, f"Queued {queued}.")


@alerts_app.command("show")
def show(account: Account, database_url: DatabaseUrl = None, as_json: JsonFlag = False) -> None:
    """An account's alert settings."""
    found = run(settings_for(database_url), lambda db: alerts.get_settings(db, account))
    emit(as_json, alerts_to_wire(found), str(alerts_to_wire(found)))


@alerts_app.command("set")
def set_(account: Account,
         key_threshold: Annotated[list[int] | None, typer.Option(
             help="Percent of each key's limit (repeat; default 50, 80, 100).")] = None,
         balance_below: Annotated[list[str] | None, typer.Option(
             help="CURRENCY=AMOUNT, e.g. USD=10 (repeat for several currencies).")] = None,
         database_url: DatabaseUrl = None, as_json: JsonFlag = False) -> None:
    """Replace an account's alert settings."""
    amounts: dict[str, str] = {}
    for item in balance_below or []:
        currency, _, amount = item.partition("=")
        if not amount:
            fail(f"--balance-below must be CURRENCY=AMOUNT, not {item!r}")
        amounts[currency.strip()] = amount.strip()
    stored = run(settings_for(database_url), lambda db: alerts.put_settings(
        db, account, alerts.parse_settings(key_threshold, amounts)), names=ALERT_OPTIONS)
    emit(as_json, alerts_to_wire(stored), str(alerts_to_wire(stored)))


def _instant(name: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return to_ms(parse_date_time(text), round_up=True)
    except ValueError as exc:
        fail(f"--{name}: {exc}")
        raise  # unreachable: fail() exits

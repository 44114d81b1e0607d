"""`usagebook webhooks ...` and `usagebook alerts ...` (both backends)."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from tests.support.harness import Harness, Tenant
from usagebook.cli import app

SECRET_ENV = {"USAGEBOOK_SECRET_KEY": "cli-test-secret-0123456789abcdef"}


def cli(harness: Harness, *args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--database-url", harness.settings.database_url,
                                      "--json"], env=SECRET_ENV)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_webhook_and_alert_commands(harness: Harness, tenant: Tenant) -> None:
    account = ("--account", tenant.account_id)
    created = cli(harness, "webhooks", "create", *account, "--url", "https://8.8.8.8/h",
                  "--event-type", "key.expiring", "--event-type", "account.balance.low")
    assert created["secret"].startswith("whsec_")
    assert created["eventTypes"] == ["account.balance.low", "key.expiring"]
    # The API sees what the CLI made, and the other way round.
    assert harness.get("/api/v1/webhooks", tenant).json() == cli(harness, "webhooks", "list",
                                                                 *account)
    updated = cli(harness, "webhooks", "update", created["id"], *account, "--disable")
    assert updated["enabled"] is False
    assert cli(harness, "webhooks", "rotate-secret", created["id"], *account)["secret"] != \
        created["secret"]
    assert cli(harness, "webhooks", "deliveries", created["id"], *account) == {"data": []}
    assert cli(harness, "webhooks", "replay", created["id"], *account, "--since",
               "2026-01-01T00:00:00Z", "--until", "2026-01-02T00:00:00Z") == {"queued": 0}
    assert cli(harness, "alerts", "set", *account, "--key-threshold", "75",
               "--balance-below", "USD=2.5") == {"keyThresholds": [75],
                                                 "balanceBelow": {"USD": "2.5"}}
    assert harness.get("/api/v1/alerts", tenant).json() == cli(harness, "alerts", "show",
                                                               *account)
    cli(harness, "webhooks", "delete", created["id"], *account)
    assert cli(harness, "webhooks", "list", *account) == {"data": []}


def test_failures_are_one_line(harness: Harness, tenant: Tenant) -> None:
    for args in (["webhooks", "create", "--account", tenant.account_id, "--url", "ftp://x",
                  "--event-type", "key.expiring"],
                 ["webhooks", "delete", "whk_nope", "--account", tenant.account_id],
                 ["alerts", "set", "--account", tenant.account_id, "--key-threshold", "0"],
                 ["webhooks", "create", "--account", "acct_nope", "--url", "https://8.8.8.8/",
                  "--event-type", "key.expiring"]):
        result = CliRunner().invoke(app, [*args, "--database-url",
                                          harness.settings.database_url], env=SECRET_ENV)
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("FAILED: ") and result.stderr.count("\n") == 1

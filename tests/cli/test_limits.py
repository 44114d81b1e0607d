"""`usagebook limits set|show`: the same rules and figures as /billing/limits, on both
databases; one FAILED line for bad input."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.support.admission import LIMITS_PATH, Customer
from tests.support.cli import SECRET_ENV
from tests.support.harness import Harness
from usagebook.cli import app


def _cli(harness: Harness, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--database-url", harness.settings.database_url],
                                env=SECRET_ENV)
    return result.exit_code, result.stdout, result.stderr


def test_set_and_show_match_the_api(harness: Harness) -> None:
    customer = Customer(harness)
    code, out, _ = _cli(harness, "limits", "set", "--account", customer.account_id,
                        "--monthly-usd", "25.50", "--json")
    assert code == 0
    assert json.loads(out) == {
        "accountId": customer.account_id, "monthlyUsd": "25.5", "monthlyDiem": None,
        "currentMonthUsage": {"usd": "0", "diem": "0"}, "overspend": {"usd": "0", "diem": "0"},
    }
    wire = harness.client.get(LIMITS_PATH, headers=customer.admin).json()
    assert (wire["monthlyUsd"], wire["monthlyDiem"]) == (25.5, None)
    code, out, _ = _cli(harness, "limits", "show", "--account", customer.account_id)
    assert code == 0 and "USD 25.5" in out


def test_bad_input_is_one_failed_line(harness: Harness) -> None:
    customer = Customer(harness)
    code, _, err = _cli(harness, "limits", "set", "--account", customer.account_id,
                        "--monthly-usd", "-3")
    assert code != 0
    assert err.startswith("FAILED: ") and err.count("\n") == 1
    code, _, err = _cli(harness, "limits", "show", "--account", "acct_nobody")
    assert code != 0 and err.startswith("FAILED: ")

"""`usagebook keys` with limits: the CLI stores what the HTTP API reads (one set of ledger
functions), updates only what it is given, and refuses bad limits in one FAILED line."""

from __future__ import annotations

import pytest

from tests.support.cli import assert_failed, cli, ok_json
from tests.support.harness import Harness, Tenant
from tests.support.keys import KEYS


def test_limits_set_by_the_cli_are_what_http_shows(harness: Harness, tenant: Tenant) -> None:
    made = ok_json(harness, "keys", "create", "--account", tenant.account_id, "--type",
                   "INFERENCE", "--description", "capped", "--limit-usd", "12.5",
                   "--limit-diem", "0", "--limit-period", "MONTH")
    assert set(made) == {"id", "key", "type", "description", "accountId"}
    key = harness.client.get(f"{KEYS}/{made['id']}", headers=tenant.admin).json()["data"]
    assert key["consumptionLimits"] == {"usd": 12.5, "diem": 0, "vcu": None}
    assert key["limitPeriod"] == "MONTH" and key["last6Chars"] == made["key"][-6:]

    updated = ok_json(harness, "keys", "update", made["id"], "--limit-usd", "none",
                      "--limit-period", "LIFETIME", "--expires", "2099-01-01T00:00:00Z")
    assert updated["limits"] == {"usd": None, "diem": "0", "vcu": None}
    assert (updated["limitPeriod"], updated["expires"], updated["description"]) == (
        "LIFETIME", "2099-01-01T00:00:00.000Z", "capped")
    cleared = ok_json(harness, "keys", "update", made["id"], "--no-expiry")
    assert cleared["expires"] is None and cleared["limitPeriod"] == "LIFETIME"
    listed = ok_json(harness, "keys", "list", "--account", tenant.account_id)["keys"]
    assert [k for k in listed if k["id"] == made["id"]] == [cleared]


@pytest.mark.parametrize("args", [
    ("--limit-usd", "lots"), ("--limit-usd", "-1"), ("--limit-diem", "0.0000000001"),
    ("--expires", "2099-01-01", "--no-expiry"),
])
def test_a_bad_update_fails_in_one_line(harness: Harness, tenant: Tenant,
                                        args: tuple[str, ...]) -> None:
    assert_failed(cli(harness, "keys", "update", tenant.inference_key_id, *args))


def test_updating_a_missing_key_fails(harness: Harness) -> None:
    assert "No key key_missing" in assert_failed(
        cli(harness, "keys", "update", "key_missing", "--description", "x"))


def test_a_refused_setting_is_named_by_its_option(harness: Harness, tenant: Tenant) -> None:
    line = assert_failed(cli(harness, "keys", "update", tenant.inference_key_id,
                             "--limit-diem", "0.0000000001", "--expires", "2000-01-01"))
    assert line == ("FAILED: expires: must be in the future; "
                    "limit-diem: must have at most 9 decimal places")

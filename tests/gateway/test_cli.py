"""`usagebook gateway` refuses settings that cannot work in one FAILED line, before serving."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.support.cli import assert_failed
from usagebook.cli import app


@pytest.mark.parametrize(("args", "env", "named"), [
    (["--upstream", "ftp://x", "--ledger", "http://127.0.0.1:1"], {"USAGEBOOK_OPERATOR_TOKEN":
                                                                   "t"}, "--upstream"),
    (["--upstream", "http://x", "--ledger", "127.0.0.1:1"], {"USAGEBOOK_OPERATOR_TOKEN": "t"},
     "--ledger"),
    (["--upstream", "http://x", "--ledger", "http://y"], {"USAGEBOOK_OPERATOR_TOKEN": ""},
     "USAGEBOOK_OPERATOR_TOKEN"),
])
def test_settings_that_cannot_work_fail_in_one_line(args: list[str], env: dict[str, str],
                                                    named: str) -> None:
    result = CliRunner().invoke(app, ["gateway", *args], env=env)
    assert named in assert_failed(result)

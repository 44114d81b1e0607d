"""The operator's CLI for prices, credits, DIEM allocations and `import`, on both backends."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from tests.support.cli import assert_failed, cli, ok_json
from tests.support.harness import Harness, Tenant
from tests.support.recording import event, record_ok


def test_prices_import_csv_and_json_then_list(
    harness: Harness, tenant: Tenant, tmp_path: Path
) -> None:
    sku = f"cli-{tenant.account_id}"
    listed = tmp_path / "prices.csv"
    listed.write_text(
        "sku,modelId,modelName,modelType,unitType,unitTypePerUnit,usageType,pricePerUnitUsd\n"
        f"{sku},m1,Model One,LLM,tokens,1000000,Input,0.25\n"
    )
    assert ok_json(harness, "prices", "import", str(listed)) == {"file": str(listed), "skus": 1}
    before = record_ok(harness, [event("a", tenant.account_id, "2", sku=sku)])
    as_json = tmp_path / "prices.json"
    as_json.write_text(
        json.dumps(
            {
                "skus": [
                    {
                        "sku": sku,
                        "modelId": "m1",
                        "modelType": "LLM",
                        "unitType": "tokens",
                        "unitTypePerUnit": 1000000,
                        "usageType": "Input",
                        "pricePerUnitUsd": "0.3",
                    }
                ]
            }
        )
    )
    assert ok_json(harness, "prices", "import", str(as_json))["skus"] == 1
    after = record_ok(harness, [event("b", tenant.account_id, "2", sku=sku)])
    assert (before[0]["entry"]["amount"], after[0]["entry"]["amount"]) == (-0.5, -0.6)
    rows = {row["sku"]: row for row in ok_json(harness, "prices", "list")["skus"]}
    assert rows[sku]["pricePerUnitUsd"] == "0.3" and rows[sku]["modelName"] == "m1"


def test_a_bad_price_list_names_rows_and_changes_nothing(harness: Harness, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "sku,modelId,modelType,unitType,usageType,pricePerUnitUsd\n"
        "ok-sku,m,LLM,tokens,Input,1\n"
        "bad-sku,m,SPACESHIP,tokens,Input,0.1234567891\n"
    )
    line = assert_failed(cli(harness, "prices", "import", str(bad)))
    assert "rows.2.modelType" in line and "rows.2.pricePerUnitUsd" in line
    assert "ok-sku" not in {row["sku"] for row in ok_json(harness, "prices", "list")["skus"]}


def test_a_price_list_is_strict_json(harness: Harness, tmp_path: Path) -> None:
    # Each file is one a lenient reader takes (the last repeated key wins; NaN is dropped with
    # the columns the catalog does not have); the strict rule refuses it, naming why.
    row = ('"sku": "{sku}", "modelId": "m", "modelType": "LLM", "unitType": "tokens", '
           '"usageType": "Input", "pricePerUnitUsd": "1"')
    cases = {
        "twice": ("{" + row + ', "sku": "twice-b"}', 'has the key "sku" twice'),
        "nan": ("{" + row + ', "note": NaN}', "holds NaN"),
        "latin1": ("{" + row + ', "modelName": "caf\u00e9"}', "is not UTF-8"),
    }
    for name, (body, problem) in cases.items():
        path = tmp_path / f"{name}.json"
        text = "[" + body.replace("{sku}", f"{name}-a") + "]"
        path.write_bytes(text.encode("latin-1") if name == "latin1" else text.encode())
        line = assert_failed(cli(harness, "prices", "import", str(path)))
        assert "file" in line and problem in line, line
    listed = {row["sku"] for row in ok_json(harness, "prices", "list")["skus"]}
    assert not listed & {"twice-a", "twice-b", "nan-a", "latin1-a"}


def test_credits_grant_and_set_diem_show_in_the_balance(harness: Harness, tenant: Tenant) -> None:
    account = tenant.account_id
    granted = ok_json(
        harness,
        "credits",
        "grant",
        "--account",
        account,
        "--currency",
        "USD",
        "--amount",
        "12.5",
        "--note",
        "purchase",
    )
    assert granted == {
        "accountId": account,
        "currency": "USD",
        "amount": "12.5",
        "notes": "purchase",
    }
    ok_json(
        harness,
        "credits",
        "grant",
        "--account",
        account,
        "--currency",
        "BUNDLED_CREDITS",
        "--amount",
        "3",
    )
    assert ok_json(
        harness, "accounts", "set-diem", "--account", account, "--allocation", "7.25"
    ) == {"accountId": account, "diemAllocation": "7.25"}
    body = harness.get("/api/v1/billing/credits", tenant).json()
    assert body["balances"] == {"USD": 12.5, "BUNDLED_CREDITS": 3, "DIEM": 7.25}
    assert body["grants"][1]["notes"] == "purchase"
    assert (
        ok_json(harness, "accounts", "set-diem", "--account", account, "--allocation", "none")[
            "diemAllocation"
        ]
        is None
    )
    assert harness.get("/api/v1/billing/balance", tenant).json()["balances"]["diem"] is None


def test_credit_and_diem_mistakes_are_one_failed_line(harness: Harness, tenant: Tenant) -> None:
    account = tenant.account_id
    for args in (
        ("credits", "grant", "--account", account, "--currency", "DIEM", "--amount", "1"),
        ("credits", "grant", "--account", account, "--currency", "USD", "--amount", "0.1e-20"),
        ("credits", "grant", "--account", "acct_nobody", "--currency", "USD", "--amount", "1"),
        ("accounts", "set-diem", "--account", account, "--allocation", "-1"),
        ("accounts", "set-diem", "--account", "acct_nobody", "--allocation", "1"),
    ):
        assert_failed(cli(harness, *args))
    assert harness.get("/api/v1/billing/credits", tenant).json()["grants"] == []


def test_import_backfills_maps_vcu_and_reports_by_line(
    harness: Harness, tenant: Tenant, tmp_path: Path
) -> None:
    lines = [
        event("i1", tenant.account_id, "2", timestamp="2025-03-01T10:00:00.000Z", currency="VCU"),
        {
            "requestId": "i2",
            "sku": "flux-dev-image-unit",
            "units": 1.5,
            "timestamp": "2025-03-02T10:00:00Z",
        },  # takes the --account default
        {
            "requestId": "i3",
            "sku": "flux-dev-image-unit",
            "units": 1,
            "apiKeyId": tenant.inference_key_id,
            "currency": "BUNDLED_CREDITS",
        },
    ]
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    report = ok_json(harness, "import", str(source), "--account", tenant.account_id)
    assert (report["recorded"], report["duplicate"], report["lines"]) == (3, 0, 4)
    rows = harness.get("/api/v1/billing/usage?sortOrder=asc", tenant).json()["data"]
    assert [(r["currency"], Decimal(str(r["amount"]))) for r in rows] == [
        ("DIEM", Decimal("-0.02")),
        ("USD", Decimal("-0.015")),
        ("BUNDLED_CREDITS", Decimal("-0.01")),
    ]
    source.write_text(
        source.read_text()
        + json.dumps({**lines[0], "units": "3"})
        + "\n"
        + json.dumps(event("i5", tenant.account_id, "0"))
        + "\n"
    )
    failed = assert_failed(cli(harness, "import", str(source)))
    assert "line 6.units" in failed
    source.write_text("\n".join(json.dumps(line) for line in [*lines, {**lines[0], "units": 3}]))
    again = ok_json(harness, "import", str(source), "--account", tenant.account_id)
    assert (again["recorded"], again["duplicate"], again["conflict"]) == (0, 3, 1)
    assert again["conflictLines"] == [4]

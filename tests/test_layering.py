"""The architecture's one-way dependencies, checked on the source: api -> ledger -> store.

- ledger/ and store/ import no web framework (fastapi, starlette), and nothing from api/;
- store/ imports nothing from ledger/, and api/ nothing from store/ (the ledger hands its
  rows up under its own names, `ledger.records`);
- ledger/ and api/ build no SQL: from sqlalchemy they may import only the connection type
  (`sqlalchemy.ext.asyncio`) and, in api/, the exception classes it maps to status codes
  (`sqlalchemy.exc`); and no string in them reads like SQL.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "usagebook"
SQL = re.compile(r"\b(SELECT\b|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)")
ALLOWED_SQLALCHEMY = {"ledger": {"sqlalchemy.ext.asyncio"},
                      "api": {"sqlalchemy.ext.asyncio", "sqlalchemy.exc"}}


def _modules(layer: str) -> list[Path]:
    found = sorted((PACKAGE / layer).rglob("*.py"))
    assert found, layer
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _under(name: str, root: str) -> bool:
    return name == root or name.startswith(root + ".")


@pytest.mark.parametrize("layer", ["ledger", "store"])
def test_no_web_framework_below_the_api(layer: str) -> None:
    for path in _modules(layer):
        bad = {n for n in _imports(path) if _under(n, "fastapi") or _under(n, "starlette")
               or _under(n, "usagebook.api")}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_store_does_not_reach_up_into_the_ledger() -> None:
    for path in _modules("store"):
        bad = {n for n in _imports(path) if _under(n, "usagebook.ledger")}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_the_api_reaches_the_store_only_through_the_ledger() -> None:
    for path in _modules("api"):
        bad = {n for n in _imports(path) if _under(n, "usagebook.store")}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


@pytest.mark.parametrize("layer", ["ledger", "api"])
def test_sql_lives_only_in_the_store(layer: str) -> None:
    allowed = ALLOWED_SQLALCHEMY[layer]
    for path in _modules(layer):
        module_imports = {n for n in _imports(path) if _under(n, "sqlalchemy")}
        bad = {n for n in module_imports
               if not any(_under(n, ok) for ok in allowed)}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not SQL.search(node.value), (
                    f"{path.relative_to(PACKAGE)} holds SQL text: {node.value[:60]!r}")


def test_the_checks_see_a_violation() -> None:
    # The detectors themselves: the store's SQL would be caught anywhere else.
    found = _imports(PACKAGE / "store" / "health.py")
    assert "sqlalchemy.text" in found
    assert not any(_under("sqlalchemy.text", ok) for ok in ALLOWED_SQLALCHEMY["api"])
    assert SQL.search('text("SELECT 1")') and SQL.search("DELETE FROM usage_entries")

"""The architecture's one-way dependencies, checked on the source: api -> ledger -> store.

- ledger/ and store/ import no web framework (fastapi, starlette), and nothing from api/;
- store/ imports nothing from ledger/, and api/ nothing from store/ (the ledger hands its
  rows up under its own names, `ledger.records`);
- ledger/ and api/ build no SQL: from sqlalchemy they may import only the connection type
  (`sqlalchemy.ext.asyncio`) and, in api/, the exception classes it maps to status codes
  (`sqlalchemy.exc`); and no string in them reads like SQL;
- the graph of every module's imports (inside functions and TYPE_CHECKING blocks too) has no
  circle anywhere in the package, subpackages, cli/, gateway/ and client/ included (the
  import-linter contracts check siblings inside api, ledger and store only);
- the package's top-level helpers (errors, money, settings, ...) import no layer, and the
  gateway reaches the ledger only over HTTP; every import is absolute, so these checks see it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
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


# Top-level modules that wire the layers together; every other one is a helper below them all.
ASSEMBLY = {"app", "server"}
LAYERS = ("api", "ledger", "store", "cli", "gateway", "client", "integrations")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Each module's imports of the package's own modules (`from p import m` counts as m when m
    is a module of p, else as p)."""
    paths = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}

    def owner(imported: str) -> str:
        while imported and imported not in paths:
            imported = imported.rpartition(".")[0]
        return imported

    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(owner(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.update(owner(f"{node.module}.{alias.name}") for alias in node.names)
        graph[name] = found - {"", name}
    return graph


def _circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = [stack.pop()]
            while component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _relative_imports() -> Iterator[str]:
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:
                yield f"{path.relative_to(PACKAGE)}:{node.lineno}"


def test_every_import_is_absolute() -> None:
    assert not list(_relative_imports())


def test_no_import_circle_anywhere_in_the_package() -> None:
    graph = _import_graph()
    assert len(graph) > 150 and "usagebook.ledger.analytics.summary" in graph
    assert not _circles(graph)


def test_helpers_import_no_layer_and_the_gateway_only_talks_http() -> None:
    graph = _import_graph()
    helpers = [name for name in graph
               if name.count(".") == 1 and name.split(".")[1] not in (*LAYERS, *ASSEMBLY)]
    assert "usagebook.money" in helpers and "usagebook.settings" in helpers
    for name in helpers:
        bad = {n for n in graph[name] if n.split(".")[1] in (*LAYERS, *ASSEMBLY)}
        assert not bad, f"{name} imports {sorted(bad)}"
    for name in (n for n in graph if _under(n, "usagebook.gateway")):
        bad = {n for n in graph[name]
               if any(_under(n, f"usagebook.{part}") for part in ("api", "ledger", "store", "cli"))}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_the_checks_see_a_violation() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "usagebook.store.tables.rollups" in _import_graph()["usagebook.store.rollups"]
    # The detectors themselves: the store's SQL would be caught anywhere else.
    found = _imports(PACKAGE / "store" / "health.py")
    assert "sqlalchemy.text" in found
    assert not any(_under("sqlalchemy.text", ok) for ok in ALLOWED_SQLALCHEMY["api"])
    assert SQL.search('text("SELECT 1")') and SQL.search("DELETE FROM usage_entries")

"""The CLI sits on top: nothing below it imports it, and its modules stay small (issue 19's limits)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "infra" / "paygate_local"
MAX_LINES = 400


def imported(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_nothing_below_the_cli_imports_it_or_the_session():
    below = [*PACKAGE.joinpath("backends").rglob("*.py"), PACKAGE / "session.py", PACKAGE / "devfile.py",
             PACKAGE / "foreground.py", PACKAGE / "merchants.py"]
    upward = {str(p.relative_to(PACKAGE)): sorted(m for m in imported(p) if m.startswith("paygate_local.cli")
                                                  or (m.startswith("paygate_local.session") and p.name != "session.py"))
              for p in below}
    assert not {name: found for name, found in upward.items() if found}
    leaves = {"devfile.py": {"paygate_local.foreground", "paygate_local.foreground.write_json_atomically"},
              "foreground.py": set()}
    for name, allowed in leaves.items():
        assert {m for m in imported(PACKAGE / name) if m.startswith("paygate_local")} <= allowed, name


def test_no_cli_module_is_over_the_limit():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines())
             for p in [*PACKAGE.joinpath("cli").glob("*.py"), PACKAGE / "session.py", PACKAGE / "devfile.py"]}
    assert not {name: lines for name, lines in sizes.items() if lines > MAX_LINES}

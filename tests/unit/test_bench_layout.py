"""bench/ keeps issue 19's limits, the runtime does not reach into it, and bench tells apart what a tree
meters by itself from the modules the tree has."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # bench is not an installed package

from bench.inject.metered_dev import tree_metering  # noqa: E402

MAX_LINES = 400
MAX_MODULES = 12  # .py files directly in one folder, its __init__.py not counted


def test_no_bench_module_is_over_400_lines_and_no_folder_over_12_modules() -> None:
    modules = [p for p in (ROOT / "bench").rglob("*.py") if "__pycache__" not in p.parts]
    long = {str(p.relative_to(ROOT)): n for p in modules if (n := len(p.read_text().splitlines())) > MAX_LINES}
    folders = {p.parent for p in modules}
    crowded = {str(f.relative_to(ROOT)): n for f in folders
               if (n := len([p for p in f.glob("*.py") if p.name != "__init__.py"])) > MAX_MODULES}
    assert not long and not crowded


def test_the_runtime_does_not_import_bench() -> None:
    importing = []
    for path in (ROOT / "infra").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name == "bench" or name.startswith("bench.") for name in names):
                importing.append(str(path.relative_to(ROOT)))
    assert not importing


def test_what_a_tree_meters_by_itself_is_told_by_its_modules(tmp_path: Path) -> None:
    # Given the three layouts bench meets: everything metered by the runtime (0e43839 and, after the
    # move into subpackages, metering/), only the runtime's counters (issue 19), nothing (5123448)
    flat, moved, counters, bare = (tmp_path / name for name in ("flat", "moved", "counters", "bare"))
    for path in (flat / "capacity.py", moved / "metering" / "capacity.py",
                 counters / "observability" / "counters.py", bare / "runtime.py"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")

    assert tree_metering(flat) == tree_metering(moved) == "native"
    assert tree_metering(counters) == "counters"
    assert tree_metering(bare) == "inject"
    # And this tree keeps its counters, its meters being bench's
    assert tree_metering(ROOT / "infra" / "paygate_local") == "counters"

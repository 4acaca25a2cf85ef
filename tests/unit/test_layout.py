"""The layout's limits (issues 19 and 22), kept: no module over 400 lines, no folder of more than 12
modules, no import cycle, in infra/, layers/ and functions/; and nothing in the core's domain and
services imports inside a function.

The limits hold for the paths in ``CHECKED`` (repository-relative files and folders, folders with
everything under them). Import cycles are looked for in the import graph of everything checked
(imports read with ``ast``, those inside functions too, since an import moved into a function to
dodge a cycle is still one). Each import root is its own namespace: infra/ (paygate_local,
sandbox_provider), layers/core/ (paygate), and each function's code folder (functions/<name>/, on
its function's path as Lambda puts it, where `app`, `routes.common` ... are its own modules).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# bench/ has its own: test_bench_layout.py.
CHECKED = ("infra", "layers", "functions")
MAX_LINES = 400
MAX_MODULES = 12  # .py files directly in one folder; a package's __init__.py and __main__.py (entry points) not counted
# Where an import inside a function can only be a cycle dodged: nothing there is deferred for a cold start.
NO_LOCAL_IMPORTS = ("layers/core/paygate/domain", "layers/core/paygate/services")
# The environment is read once, into paygate.settings (and by the telemetry's setup, which reads the
# variables Lambda and OpenTelemetry define): nothing else in the core or the functions reads it.
ENVIRONMENT_READERS = ("layers/core/paygate/settings.py", "layers/core/paygate/observability")


def import_roots() -> dict[str, Path]:
    """Namespace -> the folder its modules are found in ("" for the shared roots)."""
    roots = {"": ROOT / "infra", "layers": ROOT / "layers" / "core"}
    roots.update({f"functions.{d.name}": d for d in sorted((ROOT / "functions").iterdir()) if d.is_dir()})
    return roots


def checked_modules() -> list[Path]:
    found: set[Path] = set()
    for entry in CHECKED:
        path = ROOT / entry
        assert path.exists(), f"CHECKED names {entry}, which is not there"
        found.update([path] if path.is_file() else path.rglob("*.py"))
    return sorted(p for p in found if "__pycache__" not in p.parts)


def checked_folders() -> list[Path]:
    folders: set[Path] = set()
    for entry in CHECKED:
        path = ROOT / entry
        if path.is_dir():
            folders.update(p for p in [path, *path.rglob("*")] if p.is_dir() and p.name != "__pycache__")
    return sorted(folders)


def _dotted(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, but those under ``if TYPE_CHECKING:`` (not run)."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If) and _is_type_checking(node):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return found


def local_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """The imports inside a function's body."""
    return [node for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
            for node in ast.walk(fn) if isinstance(node, (ast.Import, ast.ImportFrom))]


def import_graph() -> dict[str, set[str]]:
    """Module -> the checked modules it names in an import (a package's ``__init__`` only when the
    package itself is what is imported, not as the parent of a submodule). A function's own modules
    are named "functions.<name>.<module>"; an import in a function resolves against them first."""
    roots = import_roots()
    shared: dict[str, Path] = {}
    for namespace in ("", "layers"):
        shared.update({_dotted(p, roots[namespace]): p for p in roots[namespace].rglob("*.py")
                       if "__pycache__" not in p.parts})
    graph: dict[str, set[str]] = {}
    for namespace, root in roots.items():
        own = {_dotted(p, root): p for p in root.rglob("*.py") if "__pycache__" not in p.parts}
        local = namespace.startswith("functions.")

        def node_of(name: str, own: dict[str, Path] = own, local: bool = local, namespace: str = namespace) -> str | None:
            if local and name in own:
                return f"{namespace}.{name}"
            return name if name in shared else None

        for name, path in own.items():
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            targets: set[str] = set()
            for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Import):
                    targets.update(alias.name for alias in node.names)
                    continue
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    targets.add(submodule if node_of(submodule) else base)
            me = f"{namespace}.{name}" if local else name
            graph[me] = {found for t in targets if (found := node_of(t)) is not None and found != me}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in checked_modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_folder_holds_more_than_12_modules() -> None:
    crowded = {str(folder.relative_to(ROOT)): n for folder in checked_folders()
               if (n := len([p for p in folder.glob("*.py") if p.name not in ("__init__.py", "__main__.py")])) > MAX_MODULES}
    assert not crowded, f"folders of more than {MAX_MODULES} modules: {crowded}"


def test_no_import_cycle() -> None:
    graph = import_graph()
    assert "paygate.services.processing" in graph and "functions.api.resolver" in graph  # every root is read
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_core_imports_nothing_inside_a_function() -> None:
    """The domain and the services defer nothing for a cold start (the composition root and the edge do):
    an import inside one of their functions could only be a cycle dodged."""
    found = [f"{path.relative_to(ROOT)}:{node.lineno}" for folder in NO_LOCAL_IMPORTS
             for path in sorted((ROOT / folder).rglob("*.py"))
             for node in local_imports(ast.parse(path.read_text(encoding="utf-8")))]
    assert not found, f"imports inside functions: {found}"


def environment_reads(tree: ast.AST) -> list[int]:
    """Lines that read the process environment: ``os.environ``, ``os.getenv``, ``os.putenv``, or those
    names imported from ``os``."""
    names = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
    return [node.lineno for node in ast.walk(tree)
            if (isinstance(node, ast.Attribute) and node.attr in names
                and isinstance(node.value, ast.Name) and node.value.id == "os")
            or (isinstance(node, ast.ImportFrom) and node.module == "os"
                and any(alias.name in names for alias in node.names))]


def test_nothing_but_the_settings_reads_the_environment() -> None:
    """No handler (functions/) and nothing in the core (services, domain, adapters, the container)
    reads os.environ: the settings model does, once."""
    allowed = [ROOT / entry for entry in ENVIRONMENT_READERS]
    modules = [p for folder in ("functions", "layers/core/paygate") for p in sorted((ROOT / folder).rglob("*.py"))
               if "__pycache__" not in p.parts and not any(p == a or a in p.parents for a in allowed)]
    assert any("services" in p.parts for p in modules) and any("functions" in p.parts for p in modules)
    found = [f"{path.relative_to(ROOT)}:{line}" for path in modules
             for line in environment_reads(ast.parse(path.read_text(encoding="utf-8")))]
    assert not found, f"the environment read outside paygate.settings: {found}"


def test_the_environment_finder_finds_reads() -> None:
    tree = ast.parse("import os\nfrom os import getenv\nos.environ['A']\nos.getenv('B')\nx.environ\n")
    assert environment_reads(tree) == [2, 3, 4]


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_an_import_inside_a_function_is_an_edge_of_the_graph() -> None:
    tree = ast.parse("import a\ndef f():\n    from b import c\n")
    assert [n.module for n in local_imports(tree)] == ["b"]
    assert {getattr(n, "module", None) or n.names[0].name for n in _imports(tree)} == {"a", "b"}


def test_no_two_test_modules_share_a_name() -> None:
    """pytest imports test modules by their basename (no packages under tests/): two of one name stop
    `make test` at collection, whichever folders they are in."""
    seen: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert not {name: paths for name, paths in seen.items() if len(paths) > 1}

"""The house's shape: dependencies flow one way (DESIGN.md: pipelines -> connectors, matching, golden_record,
expectations -> hub core), no two modules import each other however indirectly, and no module grows past
MAX_LINES (one job per room: a module that long holds several)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hub", "connectors", "matching", "golden_record", "pipelines", "expectations")
UPPER_LAYERS = {"connectors", "matching", "golden_record", "pipelines", "expectations"}
MAX_LINES = 600


def module_files() -> dict[str, Path]:
    """Every module of the project's packages by its dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """Every import statement of a file, wherever it is (in a function, under TYPE_CHECKING): the module and the
    names taken from it (none for `import x`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, tuple(alias.name for alias in node.names)))
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project's modules it imports: a name taken from a package that is one of its modules
    (`from hub.store import diff`) is that module, any other name the module it is taken from."""
    modules = module_files()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for module, names in imports(path):
            taken = [f"{module}.{n}" for n in names]
            targets |= {t for t in taken if t in modules}
            if not names or any(t not in modules for t in taken):
                targets.add(module)
        graph[name] = (targets & modules.keys()) - {name}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle (its modules, the first repeated at the end), or [] when the imports form none."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str]:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return []
        path.append(module)
        for target in sorted(graph[module]):
            if found := visit(target):
                return found
        path.pop()
        done.add(module)
        return []

    for module in sorted(graph):
        if found := visit(module):
            return found
    return []


def test_no_module_under_hub_imports_a_layer_above_it():
    upward = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted((ROOT / "hub").rglob("*.py"))
        for module, _ in imports(path)
        if module.split(".")[0] in UPPER_LAYERS
    }
    assert not upward


def test_no_modules_import_each_other():
    assert cycle(import_graph()) == []


def test_the_cycle_search_finds_a_cycle_and_only_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_no_module_is_longer_than_one_job():
    long = {f"{path.relative_to(ROOT)}: {n}" for path in module_files().values()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}  # fmt: skip
    assert not long

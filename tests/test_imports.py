"""The house's floors: every import of an accelbench module, at file level or inside a function, goes
to the same floor or a lower one, and no chain of imports between files comes back to where it
started. Read from the source (ast), so a lazy import cannot hide a cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "accelbench"
FLOORS = {"common": 0, "search_space": 1, "training": 2, "surrogate": 2, "profiling": 3, "optimizers": 3, "pipeline": 4, "proxy": 5, "workflows": 6}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(path: Path) -> set[str]:
    """The accelbench modules `path` imports (a `from package import name` counts as the module `name`
    when there is one), leaving out imports only a type checker runs."""
    tree = ast.parse(path.read_text())
    checking_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                     for statement in block.body for node in ast.walk(statement)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in checking_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module for alias in node.names}
    return {name for name in found if name in MODULES}


GRAPH = {name: imported(path) - {name} for name, path in MODULES.items()}


def floor(module: str) -> int | None:
    parts = module.split(".")
    return FLOORS.get(parts[1]) if len(parts) > 1 else None


def test_every_part_has_a_floor():
    parts = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert parts == set(FLOORS)


def test_no_import_climbs_a_floor():
    climbing = [f"{module} imports {other}" for module, others in GRAPH.items() for other in sorted(others)
                if floor(module) is not None and floor(other) is not None and floor(other) > floor(module)]
    assert climbing == []


def test_no_import_cycle_between_files():
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for other in sorted(GRAPH[module]):
            if state.get(other) == "open":
                cycles.append(" -> ".join([*path[path.index(other):], other]))
            elif other not in state:
                visit(other, [*path, other])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_only_import_names_are_under_accelbench():
    tried = "import importlib.util, sys; print([n for n in ('pipeline', 'training', 'profiling', 'surrogate', 'search_space', 'optimizers', 'workflows', 'common') if importlib.util.find_spec(n)])"
    result = subprocess.run([sys.executable, "-c", tried], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    subprocess.run([sys.executable, "-c", "import accelbench.pipeline, accelbench.workflows.cli"], cwd=REPO, check=True)

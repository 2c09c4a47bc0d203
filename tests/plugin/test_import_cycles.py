"""No import cycle inside pytest_deployverify: imports run one way, nothing reaches back up.

Every import counts, also those inside functions and under ``TYPE_CHECKING``: a function-local
import that closes a loop is still a module that knows about the one that imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pytest_deployverify

PACKAGE = Path(pytest_deployverify.__file__).parent


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports (a ``from pkg import mod`` names mod)."""
    modules = {module_name(root, p): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")
                    base = base[: len(base) - node.level + (1 if is_package else 0)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    deps.add(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        # importing the package itself (__version__) runs only its __init__, which imports nothing
        graph[name] = {d for d in deps if d in modules and d not in (name, root.name)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_plugin_has_no_import_cycle() -> None:
    graph = import_graph(PACKAGE)
    assert "pytest_deployverify.session" in graph  # the walk saw the package
    assert cycles(graph) == [], "import cycle(s) inside pytest_deployverify"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # a cycle through a function-local, relative import is found
        (
            {
                "a.py": "from pkg import b\n",
                "b.py": "def f():\n    from . import c\n",
                "c.py": "import pkg.a\n",
            },
            [["pkg.a", "pkg.b", "pkg.c"]],
        ),
        # imports that run one way are not a cycle
        ({"a.py": "from pkg import b\n", "b.py": "from pkg.c import X\n", "c.py": "X = 1\n"}, []),
    ],
)
def test_cycle_detection_fires_and_stays_quiet(
    tmp_path: Path, files: dict[str, str], expected: list[list[str]]
) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    for name, text in files.items():
        (root / name).write_text(text)
    assert cycles(import_graph(root)) == expected

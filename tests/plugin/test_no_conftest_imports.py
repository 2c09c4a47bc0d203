"""Test helpers come from uniquely named modules (plugin_support, docservice_support, ...),
never from ``conftest``: several conftest.py files exist (the repository root, tests/plugin,
tests/docservice), and which one ``import conftest`` finds depends on what ran first in the
process. It broke collection once and three tests once, each time only in the full run."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PATTERN = re.compile(r"^\s*(import conftest\b|from conftest import\b)", re.MULTILINE)


def conftest_imports(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for match in PATTERN.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(root)}:{line}: {match.group(1)}")
    return found


def test_no_test_module_imports_conftest() -> None:
    found = conftest_imports(REPO / "tests")
    assert not found, "import the helper from its *_support module instead:\n" + "\n".join(found)


def test_the_check_finds_such_an_import(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("import os\n\ndef f():\n    import conftest\n")
    (tmp_path / "test_y.py").write_text("from conftest import ALT\n")
    (tmp_path / "test_z.py").write_text("x = 'import conftest'  # in a string, not a line\n")
    assert conftest_imports(tmp_path) == [
        "test_x.py:4: import conftest",
        "test_y.py:1: from conftest import",
    ]

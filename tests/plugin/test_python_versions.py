"""``requires-python`` says 3.10: every plugin module must at least compile there.

mypy checks the package against Python 3.10's standard library (``[tool.mypy]
python_version``): a module-level ``import tomllib`` fails there. This test adds the syntax:
each module is compiled by a Python 3.10 interpreter when the machine has one.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import tomllib

import pytest_deployverify

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(pytest_deployverify.__file__).parent
COMPILE = (
    "import sys\n"
    "bad = []\n"
    "for f in sys.argv[1:]:\n"
    "    try:\n"
    "        compile(open(f, encoding='utf-8').read(), f, 'exec')\n"
    "    except SyntaxError as e:\n"
    "        bad.append(f'{f}: {e}')\n"
    "print('\\n'.join(bad))\n"
    "sys.exit(1 if bad else 0)\n"
)


def python310() -> str | None:
    """A Python 3.10 interpreter that runs (a pyenv shim may exist without one)."""
    candidates = [shutil.which("python3.10")]
    candidates += [str(p) for p in Path.home().glob(".pyenv/versions/3.10*/bin/python3.10")]
    for exe in candidates:
        if (
            exe
            and subprocess.run([exe, "-c", "pass"], capture_output=True, timeout=30).returncode == 0
        ):
            return exe
    return None


PY310 = python310()


def test_requires_python_is_the_version_checked() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["requires-python"] == ">=3.10"
    assert project["tool"]["mypy"]["python_version"] == "3.10"


@pytest.mark.skipif(PY310 is None, reason="no python3.10 on this machine")
def test_every_module_compiles_on_python_3_10(tmp_path: Path) -> None:
    assert PY310 is not None
    files = sorted(str(p) for p in PACKAGE.rglob("*.py"))
    done = subprocess.run(
        [PY310, "-c", COMPILE, *files], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(PY310 is None, reason="no python3.10 on this machine")
def test_the_compile_check_fires_on_newer_syntax(tmp_path: Path) -> None:
    assert PY310 is not None
    newer = tmp_path / "newer.py"
    newer.write_text("type Alias = int\n")  # Python 3.12 syntax
    done = subprocess.run(
        [PY310, "-c", COMPILE, str(newer)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "newer.py" in done.stdout

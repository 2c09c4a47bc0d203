"""Packaging: the built wheel works on its own, away from the checkout.

The wheel is built from the repository, installed (without dependencies) into a fresh virtual
environment in a temporary directory, and a plain test project there writes a verdict file
that validates against the schema shipped inside the installed package. The dependencies come
from this test run's environment through a path entry, so nothing is downloaded at run time
except what pip's build isolation needs to build the wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
#: bounds for each step (building runs setuptools in an isolated environment)
TIMEOUT = 300


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv with the built wheel installed (dependencies via .pth)."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, REPO, cwd=tmp)
    (wheel,) = dist.glob("pytest_deployverify-*.whl")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "-q",
        wheel,
        cwd=tmp,
    )
    site = Path(
        run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp).strip()
    )
    # the dependencies (pytest, requests, jsonschema, ...) from this environment; its .pth
    # files (the editable install of the checkout) are not processed for a plain path entry
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python


def test_installed_wheel_writes_a_valid_verdict(installed: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_plain.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.critical
            def test_ok():
                assert 1 + 1 == 2
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    where = run(
        installed,
        "-c",
        "import pytest_deployverify; print(pytest_deployverify.__file__)",
        cwd=project,
        env=env,
    )
    assert Path(where.strip()).is_relative_to(installed.parent.parent), where
    assert not Path(where.strip()).is_relative_to(REPO)
    out = run(
        installed,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--verdict-file",
        "v.json",
        cwd=project,
        env=env,
    )
    assert "deployverify verdict: PASS" in out
    schema_text = run(
        installed,
        "-c",
        "import json; from pytest_deployverify import verdict_document; "
        "print(json.dumps(verdict_document.schema()))",
        cwd=project,
        env=env,
    )
    data = json.loads((project / "v.json").read_text("utf-8"))
    jsonschema.Draft202012Validator(json.loads(schema_text)).validate(data)
    assert data["verdict"] == "pass" and data["counts"]["passed"] == 1

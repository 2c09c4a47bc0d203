"""Fail fast's shared directory (where an xdist worker's first proof reaches the others) exists
only while a distributed run does, and such a run removes the directories of controllers
that were killed before they could remove their own (SIGKILL, a crash)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pytest_deployverify.failfast import DIR_PREFIX

INNER = f"""
import os
import tempfile


def test_sees_the_shared_directory(request):
    workerinput = getattr(request.config, "workerinput", None)
    made = [
        n for n in os.listdir(tempfile.gettempdir())
        if n.startswith("{DIR_PREFIX}") and not n.endswith(("-abc123", "-live99", "oldname"))
    ]
    if workerinput is None:  # serial: the breaker keeps its proof in memory
        assert made == []
    else:
        shared = workerinput["deployverify_failfast_dir"]
        assert os.path.isdir(shared), shared
        pid, dash, _ = os.path.basename(shared)[len("{DIR_PREFIX}") :].partition("-")
        assert pid.isdigit() and dash, shared
"""


def _dead_pid() -> int:
    """The process ID of a process that has ended."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(done.stdout)


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The inner run's temporary directory (``tempfile.gettempdir()``), empty but for what a
    test puts there."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.mark.skipif(os.name == "nt", reason="a process is not probed with signal 0 there")
def test_a_distributed_run_removes_a_killed_controllers_directory(project, temp_root):
    project.pyproject("")
    orphan = temp_root / f"{DIR_PREFIX}{_dead_pid()}-abc123"
    orphan.mkdir()
    (orphan / "proof.json").write_text("{}")
    live = temp_root / f"{DIR_PREFIX}{os.getppid()}-live99"  # a process that is running
    live.mkdir()
    unnamed = temp_root / f"{DIR_PREFIX}oldname"  # no process ID: not ours to judge
    unnamed.mkdir()
    project.tests(INNER)
    result = project.run("-n", "2")
    result.assert_outcomes(passed=1)
    assert not orphan.exists()
    assert live.is_dir() and unnamed.is_dir()
    # and the run's own directory went with it
    assert sorted(p.name for p in temp_root.iterdir()) == sorted([live.name, unnamed.name])


def test_a_serial_run_makes_no_directory_and_leaves_others_alone(project, temp_root):
    project.pyproject("")
    orphan = temp_root / f"{DIR_PREFIX}{_dead_pid()}-abc123"
    orphan.mkdir()
    project.tests(INNER)
    result = project.run()
    result.assert_outcomes(passed=1)
    assert [p.name for p in temp_root.iterdir()] == [orphan.name]


def test_fail_fast_off_makes_no_directory_under_xdist(project, temp_root):
    project.pyproject("")
    project.tests(
        """
        def test_no_shared_directory(request):
            assert "deployverify_failfast_dir" not in request.config.workerinput
        """
    )
    result = project.run("-n", "2", "--fail-fast=off")
    result.assert_outcomes(passed=1)
    assert list(temp_root.iterdir()) == []

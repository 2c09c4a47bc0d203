"""A recording makes each baseline file durable (fsync before its rename) and each directory
it wrote to durable once, after its last rename, at the session end: not once per file.

A spy conftest logs the inner run's ``os.fsync`` (with what the descriptor points at) and
``os.replace`` calls to a file, from every process (xdist workers too).
"""

from __future__ import annotations

import os
from pathlib import Path

import baseline_support
import pytest

from pytest_deployverify.atomic import DirectorySync, write_atomic

noisy_service = baseline_support.noisy_service
noisy = baseline_support.noisy
bproject = baseline_support.bproject

SPY = """
import os

_LOG = os.environ["DV_SYNC_LOG"]
_fsync, _replace = os.fsync, os.replace


def _log(line):
    with open(_LOG, "a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()} {line}\\n")


def _spy_fsync(fd):
    try:
        what = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        what = "?"
    _log(f"fsync {what}")
    return _fsync(fd)


def _spy_replace(src, dst, *args, **kwargs):
    result = _replace(src, dst, *args, **kwargs)
    _log(f"replace {os.path.realpath(dst)}")
    return result


def pytest_configure(config):
    os.fsync, os.replace = _spy_fsync, _spy_replace


def pytest_unconfigure(config):
    os.fsync, os.replace = _fsync, _replace  # an in-process inner run shares this process
"""


def _module(i: int) -> str:
    return f"""
def test_a(baseline):
    baseline.check("v", {{"module": {i}, "test": "a"}})

def test_b(baseline):
    baseline.check("v", {{"module": {i}, "test": "b"}})

def test_c(baseline):
    baseline.check("v", {{"module": {i}, "test": "c"}})
"""


@pytest.fixture
def spied(bproject, pytester, monkeypatch, tmp_path_factory) -> Path:
    """Two test modules of three checks each, and the spy's log file."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd to name what a descriptor points at")
    log = tmp_path_factory.mktemp("sync") / "calls.log"
    monkeypatch.setenv("DV_SYNC_LOG", str(log))
    bproject.tests(_module(1), name="test_one")
    bproject.tests(_module(2), name="test_two")
    pytester.makeconftest(SPY)
    return log


def _calls(log: Path, under: Path) -> dict[str, list[tuple[str, str]]]:
    """pid -> (call, path) for the paths under ``under``, in each process's order (xdist
    workers write concurrently; each makes its own files and renames durable)."""
    root = os.path.realpath(under)
    out: dict[str, list[tuple[str, str]]] = {}
    if not log.exists():
        return out
    for line in log.read_text(encoding="utf-8").splitlines():
        pid, call, path = line.split(" ", 2)
        if path == root or path.startswith(root + os.sep):
            out.setdefault(pid, []).append((call, path))
    return out


def test_each_directory_is_synced_once_after_its_files(bproject, spied, mode):
    bproject.record(*mode).assert_outcomes(passed=6)
    root = bproject.baseline_dir
    by_process = _calls(spied, root)
    dirs = {os.path.realpath(root / m) for m in ("test_one", "test_two")}
    files = {os.path.join(d, f"test_{t}.json") for d in dirs for t in "abc"}
    replaced = [path for calls in by_process.values() for call, path in calls if call == "replace"]
    assert sorted(replaced) == sorted(files)  # every file renamed into place once
    for calls in by_process.values():
        # each file's content was flushed before its rename: its temporary, same directory
        for i, (call, path) in enumerate(calls):
            if call == "replace":
                before_call, before_path = calls[i - 1]
                assert before_call == "fsync"
                assert os.path.dirname(before_path) == os.path.dirname(path)
                assert os.path.basename(before_path).startswith(".deployverify-tmp-")
        # each directory this process wrote to: synced once, after its last rename there
        written = {os.path.dirname(path) for call, path in calls if call == "replace"}
        dir_syncs = [path for call, path in calls if call == "fsync" and path in dirs]
        assert sorted(dir_syncs) == sorted(written)  # once per directory, not per file
        for directory in written:
            synced_at = calls.index(("fsync", directory))
            last_rename = max(
                i
                for i, (call, path) in enumerate(calls)
                if call == "replace" and os.path.dirname(path) == directory
            )
            assert synced_at > last_rename
    # fewer directory syncs than files, whatever the split between processes
    assert sum(
        1
        for calls in by_process.values()
        for call, path in calls
        if call == "fsync" and path in dirs
    ) < len(files)


def test_nothing_written_nothing_synced(bproject, spied, mode):
    bproject.record(*mode).assert_outcomes(passed=6)
    spied.unlink()
    # the same values again: every file unchanged, none rewritten
    bproject.record(*mode).assert_outcomes(passed=6)
    assert _calls(spied, bproject.baseline_dir) == {}
    # compare mode writes nothing either
    bproject.run(*mode).assert_outcomes(passed=6)
    assert _calls(spied, bproject.baseline_dir) == {}


def test_a_directory_removed_after_its_first_file_is_made_again(tmp_path):
    dirs = DirectorySync()
    target = tmp_path / "baselines" / "test_mod"
    write_atomic(target / "a.json", "{}\n", dirs=dirs)
    for leftover in target.iterdir():
        leftover.unlink()
    target.rmdir()  # gone between two writes of one session (a user's cleanup)
    write_atomic(target / "b.json", "[]\n", dirs=dirs)
    assert (target / "b.json").read_text() == "[]\n"
    dirs.sync()
    dirs.sync()  # nothing pending: idempotent

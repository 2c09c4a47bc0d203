"""A recording stages each baseline file in a temporary and puts them all in place at the
session end (``atomic.WriteBatch``): one filesystem sync makes every temporary durable, then
each is renamed over its file, then each directory written to is fsynced once, after its
last rename. No fsync per file, none per directory per file; no file in place before the
session end, so a crash leaves old files, never partial ones.

A spy conftest logs the inner run's ``os.fsync`` (with what the descriptor points at),
``os.replace`` and ``atomic.sync_filesystems`` calls to a file, from every process (xdist
workers too).
"""

from __future__ import annotations

import os
from pathlib import Path

import baseline_support
import pytest

from pytest_deployverify import atomic
from pytest_deployverify.atomic import TMP_PREFIX, WriteBatch, write_atomic

noisy_service = baseline_support.noisy_service
noisy = baseline_support.noisy
bproject = baseline_support.bproject

SPY = """
import os

from pytest_deployverify import atomic

_LOG = os.environ["DV_SYNC_LOG"]
_fsync, _replace, _syncfs = os.fsync, os.replace, atomic.sync_filesystems


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


def _spy_syncfs(directories):
    if os.environ.get("DV_SYNC_FAILS"):
        raise OSError(5, "Input/output error (the spy's)")
    for directory in sorted(directories):
        _log(f"syncfs {os.path.realpath(directory)}")
    return _syncfs(directories)


def pytest_configure(config):
    os.fsync, os.replace = _spy_fsync, _spy_replace
    atomic.sync_filesystems = _spy_syncfs


def pytest_unconfigure(config):
    # an in-process inner run shares this process
    os.fsync, os.replace, atomic.sync_filesystems = _fsync, _replace, _syncfs
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


needs_batch_sync = pytest.mark.skipif(
    not atomic.BATCH_SYNC, reason="files are synced together on Linux only"
)


@needs_batch_sync
def test_files_are_synced_together_then_renamed_then_each_directory_once(bproject, spied, mode):
    bproject.record(*mode).assert_outcomes(passed=6)
    root = bproject.baseline_dir
    by_process = _calls(spied, root)
    dirs = {os.path.realpath(root / m) for m in ("test_one", "test_two")}
    files = {os.path.join(d, f"test_{t}.json") for d in dirs for t in "abc"}
    replaced = [path for calls in by_process.values() for call, path in calls if call == "replace"]
    assert sorted(replaced) == sorted(files)  # every file renamed into place once
    for calls in by_process.values():
        renames = [i for i, (call, _) in enumerate(calls) if call == "replace"]
        written = {os.path.dirname(calls[i][1]) for i in renames}
        # one filesystem sync, before the first rename, over every directory renamed into
        syncs = [i for i, (call, _) in enumerate(calls) if call == "syncfs"]
        assert syncs == list(range(len(written)))
        assert {calls[i][1] for i in syncs} == written
        assert max(syncs) < min(renames)
        # no fsync of a file: its temporary's data went to disk with the filesystem sync
        assert all(path in dirs for call, path in calls if call == "fsync"), calls
        # each directory this process wrote to: synced once, after its last rename there
        dir_syncs = [path for call, path in calls if call == "fsync"]
        assert sorted(dir_syncs) == sorted(written)
        for directory in written:
            synced_at = calls.index(("fsync", directory))
            last_rename = max(i for i in renames if os.path.dirname(calls[i][1]) == directory)
            assert synced_at > last_rename
    assert not list(root.rglob(f"{TMP_PREFIX}*"))


TWO_CHECKS = """
def test_a(baseline):
    baseline.check("v", {"test": "a"})

def test_b(baseline):
    baseline.check("v", {"test": "b"})
"""


def test_files_are_in_place_only_at_the_session_end(bproject, pytester, mode, monkeypatch):
    pytester.makepyfile(
        test_late=TWO_CHECKS
        + """
import os
from pathlib import Path

def test_c():
    # test_a's file is staged, not in place (on xdist, test_a may not have run yet)
    assert not (Path(os.environ["DV_BASELINES"]) / "test_late" / "test_a.json").exists()
"""
    )
    monkeypatch.setenv("DV_BASELINES", str(bproject.baseline_dir))
    bproject.record(*mode).assert_outcomes(passed=3)
    names = sorted(p.name for p in (bproject.baseline_dir / "test_late").iterdir())
    assert names == ["test_a.json", "test_b.json"]


def test_an_interrupted_recording_puts_in_place_what_it_recorded(bproject, pytester):
    pytester.makepyfile(
        test_stop=TWO_CHECKS
        + """
def test_c():
    raise KeyboardInterrupt
"""
    )
    # a real process: an in-process run would interrupt the outer session too
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--record-baseline", timeout=120
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    written = bproject.baseline_dir / "test_stop"
    assert sorted(p.name for p in written.iterdir()) == ["test_a.json", "test_b.json"]
    assert '"test": "b"' in (written / "test_b.json").read_text()
    assert not list(bproject.baseline_dir.rglob(f"{TMP_PREFIX}*"))


def test_a_failed_filesystem_sync_leaves_every_file_as_it_was(bproject, spied, mode, monkeypatch):
    bproject.record(*mode).assert_outcomes(passed=6)
    root = bproject.baseline_dir
    before = {p: p.read_bytes() for p in root.rglob("*.json")}
    bproject.tests(_module(3).replace('"test": "a"', '"test": "A"'), name="test_one")
    monkeypatch.setenv("DV_SYNC_FAILS", "1")
    result = bproject.record(*mode)
    # the failure reaches the verdict and the summary, from an xdist worker too
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*verdict: FAIL*Baseline file not written: baselines/test_one/test_*.json: "
            "Input/output error*",
            "*recorded into baselines*0 written, 0 updated, 3 unchanged, "
            "3 not written (write failed)",
            "  not written: baselines/test_one/test_*.json: Input/output error*",
        ]
    )
    after = {p: p.read_bytes() for p in root.rglob("*.json")}
    assert after == before  # old content everywhere: nothing renamed
    assert not list(root.rglob(f"{TMP_PREFIX}*"))  # and no temporary left behind


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
    dirs = WriteBatch()
    target = tmp_path / "baselines" / "test_mod"
    write_atomic(target / "a.json", "{}\n", dirs=dirs)
    for leftover in target.iterdir():
        leftover.unlink()
    target.rmdir()  # gone between two writes of one session (a user's cleanup)
    write_atomic(target / "b.json", "[]\n", dirs=dirs)
    assert (target / "b.json").read_text() == "[]\n"
    dirs.sync()
    dirs.sync()  # nothing pending: idempotent

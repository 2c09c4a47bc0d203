"""A recording killed mid-write leaves the old file (or none), never half a file."""

from __future__ import annotations

import baseline_support

noisy_service = baseline_support.noisy_service
noisy = baseline_support.noisy
bproject = baseline_support.bproject

TEST = """
import os
def test_value(baseline):
    baseline.check("v", {"version": os.environ.get("DV_VERSION", "1"), "items": list(range(2000))})
"""

# Interrupt the write at its last step (after the temporary file is complete).
REPLACE_INTERRUPTED = """
import os
_real = os.replace

def _boom(src, dst, *a, **k):
    if str(dst).endswith(".json") and "baselines" in str(dst):
        raise KeyboardInterrupt("simulated Ctrl-C during the baseline write")
    return _real(src, dst, *a, **k)

def pytest_configure(config):
    os.replace = _boom

def pytest_unconfigure(config):
    os.replace = _real  # this inner run shares the outer process
"""

# SIGKILL the process while the temporary file is being flushed to disk (with the others at
# the session end on Linux, on its own elsewhere).
KILLED_IN_FSYNC = """
import os, signal
from pytest_deployverify import atomic

def _die(*args):
    os.kill(os.getpid(), signal.SIGKILL)

if atomic.BATCH_SYNC:
    atomic.sync_filesystems = _die
else:
    os.fsync = _die
"""


def _file(bproject):
    return bproject.baseline_dir / "test_inner" / "test_value.json"


def test_interrupted_write_keeps_old_file_and_no_temporary(bproject, pytester, monkeypatch):
    bproject.tests(TEST)
    bproject.record().assert_outcomes(passed=1)
    before = _file(bproject).read_text()
    pytester.makeconftest(REPLACE_INTERRUPTED)
    monkeypatch.setenv("DV_VERSION", "2")
    # a real process: the interrupt comes at the session end, where files are put in place,
    # and an in-process run would pass it on to the outer session
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--record-baseline", timeout=120
    )
    assert result.ret != 0  # interrupted
    assert "simulated Ctrl-C during the baseline write" in result.stderr.str() + result.stdout.str()
    assert _file(bproject).read_text() == before
    assert [p.name for p in _file(bproject).parent.iterdir()] == ["test_value.json"]


def test_sigkill_mid_write_leaves_no_partial_file(bproject, pytester, monkeypatch):
    bproject.tests(TEST)
    pytester.makeconftest(KILLED_IN_FSYNC)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--record-baseline", timeout=120
    )
    assert result.ret == -9  # killed
    assert not _file(bproject).exists()
    leftovers = list(bproject.baseline_dir.rglob("*"))
    # at most the temporary file, which is never read as a baseline
    assert all(p.is_dir() or p.name.startswith(".deployverify-tmp-") for p in leftovers)
    # the next recording cleans the temporary up and writes a whole file
    (pytester.path / "conftest.py").unlink()
    bproject.record().assert_outcomes(passed=1)
    assert [p.name for p in _file(bproject).parent.iterdir()] == ["test_value.json"]
    assert (
        bproject.load("test_inner/test_value.json")["observations"]["v"]["value"]["items"][-1]
        == 1999
    )
    # compare mode ignores temporaries entirely
    bproject.run().assert_outcomes(passed=1)

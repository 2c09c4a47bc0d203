"""The session keeps every baseline file it read summarised (digest, provenance, observation
names, timings) and only the last few whole: a file let go is read again, whole and current,
when asked for; the session end's accounting works from the summaries."""

from __future__ import annotations

import json
from typing import Any

import baseline_support
import pytest

from pytest_deployverify.verdict_document import baseline_checksum

noisy_service = baseline_support.noisy_service
noisy = baseline_support.noisy
bproject = baseline_support.bproject

#: twenty tests, one small check each
CHECKS = "\n".join(
    f"def test_{i:02d}(baseline):\n    baseline.check('v', {{'i': {i}}})\n" for i in range(20)
)

READER = """
import gc
import json
import weakref

from pytest_deployverify.baseline.session import session_of


def test_zz_reader(request):
    bs = session_of(request.config)
    files = sorted((bs.root / "test_checks").glob("*.json"))
    assert len(files) == 20
    # the session knows its files by their POSIX path relative to the baseline directory
    rels = [p.relative_to(bs.root).as_posix() for p in files]
    loaded = [bs.load(rel) for rel in rels]
    assert [b.observations["v"].value for b in loaded] == [{"i": i} for i in range(20)]
    refs = [weakref.ref(b) for b in loaded]
    del loaded
    gc.collect()
    # the session keeps at most 16 files whole (which ones depends on what this process
    # read before: under xdist, the checks it ran) and lets the others go
    alive = [r() is not None for r in refs]
    assert 0 < sum(alive) <= 16, alive
    # every file is still summarised: the session end needs no second read
    assert [bs.summary(rel).names for rel in rels] == [("v",)] * 20
    # a file let go, asked for again, is read whole again
    gone = alive.index(False)
    assert bs.load(rels[gone]).observations["v"].value == {"i": gone}
    # and as it is now, once changed
    data = json.loads(files[0].read_text())
    data["observations"]["v"]["value"] = {"i": 100}
    data["observations"]["w"] = dict(data["observations"]["v"])
    files[0].write_text(json.dumps(data, indent=2) + "\\n")
    again = bs.load(rels[0])
    assert again.observations["v"].value == {"i": 100}
    assert bs.summary(rels[0]).names == ("v", "w")
"""


# The reader changes a file a check reads: it must run after the checks, never beside them
# on another worker. So under -n 2 it is the last test of the checks' own module, and
# --dist loadfile runs that module on one worker, in order (xdist's loadgroup would be the
# natural choice, but it sets item._nodeid, which pytest 9 no longer reads: no groups).
@pytest.mark.parametrize(
    "workers", [[], ["-n", "2", "--dist", "loadfile"]], ids=["serial", "xdist"]
)
def test_parsed_files_are_let_go_and_read_again(bproject, workers) -> None:
    bproject.tests(CHECKS, name="test_checks")
    assert bproject.record("--record-runs", "1").ret == 0
    bproject.tests(CHECKS + READER, name="test_checks")
    result = bproject.run("--fail-unverified", "-p", "no:randomly", *workers)
    result.assert_outcomes(passed=21)
    # the observation the reader added is in no test: the session end saw it in the summary
    result.stdout.fnmatch_lines(["*not verified: baselines/test_checks/test_00.json::w"])
    assert result.ret != 0


def test_every_observation_verified_passes_fail_unverified(bproject) -> None:
    bproject.tests(CHECKS, name="test_checks")
    assert bproject.record("--record-runs", "1").ret == 0
    result = bproject.run("--fail-unverified")
    result.assert_outcomes(passed=20)
    assert result.ret == 0


#: counts the baseline files the xdist controller reads itself (its workers run the checks;
#: a test without a file is looked for, and not found, by the timing reference)
CONTROLLER_READS = """
import pytest

from pytest_deployverify.baseline import session as baseline_session

READS = []


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        return
    real = baseline_session.read_file

    def counted(path):
        found = real(path)
        READS.append(str(path))
        return found

    baseline_session.read_file = counted
    config.add_cleanup(lambda: setattr(baseline_session, "read_file", real))


def pytest_terminal_summary(terminalreporter):
    names = sorted(p.rsplit("/", 1)[-1] for p in READS)
    terminalreporter.write_line(f"controller read {len(READS)} baseline files: {names}")
"""

#: changes a baseline file after its own check read it (the worker that read it does not
#: read it again): an observation no test checks
CHANGER = """
import json

from pytest_deployverify.baseline.session import session_of


def test_zz_changer(request):
    bs = session_of(request.config)
    path = bs.root / "test_checks" / "test_01.json"
    data = json.loads(path.read_text())
    data["observations"]["w"] = dict(data["observations"]["v"])
    path.write_text(json.dumps(data, indent=2) + "\\n")
"""


def test_xdist_controller_takes_the_workers_reads(bproject) -> None:
    """The controller's session end (checksum, provenance, observations not verified) uses
    what the workers read of each file: no file is read and validated twice."""
    bproject.tests(CHECKS, name="test_checks")
    assert bproject.record("--record-runs", "1").ret == 0
    serial = bproject.run("--fail-unverified", "-p", "no:randomly")
    serial.assert_outcomes(passed=20)
    serial_checksum = _verdict_baseline(bproject)["checksum"]
    bproject.pytester.makeconftest(CONTROLLER_READS)
    result = bproject.run("--fail-unverified", "-p", "no:randomly", "-n", "2")
    result.assert_outcomes(passed=20)
    result.stdout.fnmatch_lines(["controller read 0 baseline files: []"])
    assert result.ret == 0
    block = _verdict_baseline(bproject)
    assert block["checksum"] == serial_checksum
    assert block["files"] == 20
    assert block["recorded_from"] == "noisy"
    # a recording under -n 2: the files the workers wrote are not read back either
    for path in bproject.baseline_dir.rglob("*.json"):
        path.unlink()
    result = bproject.record("--record-runs", "1", "-n", "2")
    result.assert_outcomes(passed=20)
    result.stdout.fnmatch_lines(
        ["controller read 0 baseline files: []", "*20 written, 0 updated, 0 unchanged*"]
    )
    assert _verdict_baseline(bproject)["checksum"] == _checksum_of(bproject)


def test_xdist_controller_reads_a_file_changed_after_its_worker_read_it(bproject) -> None:
    bproject.tests(CHECKS, name="test_checks")
    assert bproject.record("--record-runs", "1").ret == 0
    bproject.tests(CHECKS + CHANGER, name="test_checks")
    bproject.pytester.makeconftest(CONTROLLER_READS)
    # loadfile: the changer runs after the checks, on the worker that ran them
    args = ("--fail-unverified", "-p", "no:randomly", "-n", "2", "--dist", "loadfile")
    result = bproject.run(*args)
    result.assert_outcomes(passed=21)
    # the changed file only, read again: its size and mtime are not what the worker read
    result.stdout.fnmatch_lines(
        [
            "controller read 1 baseline files: ['test_01.json']",
            "*not verified: baselines/test_checks/test_01.json::w",
        ]
    )
    assert result.ret != 0
    assert _verdict_baseline(bproject)["checksum"] == _checksum_of(bproject)


def _checksum_of(bproject: baseline_support.BaselineProject) -> str:
    """The baseline files' checksum as they are on disk now."""
    root = bproject.baseline_dir
    return baseline_checksum(root, [p.relative_to(root).as_posix() for p in root.rglob("*.json")])


def _verdict_baseline(bproject: baseline_support.BaselineProject) -> dict[str, Any]:
    verdict = json.loads((bproject.pytester.path / "reports" / "verdict.json").read_text())
    block: dict[str, Any] = verdict["baseline"]
    return block

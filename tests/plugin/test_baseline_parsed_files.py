"""The session keeps every baseline file it read summarised (digest, provenance, observation
names, timings) and only the last few whole: a file let go is read again, whole and current,
when asked for; the session end's accounting works from the summaries."""

from __future__ import annotations

import baseline_support
import pytest

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

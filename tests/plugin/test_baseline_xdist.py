"""Recording under -n 2 writes exactly the files a serial recording writes; accounting merges."""

from __future__ import annotations

import baseline_support

noisy_service = baseline_support.noisy_service
noisy = baseline_support.noisy
bproject = baseline_support.bproject

MANY = """
import pytest, uuid

RUNS = {}

def noisy_id(key):
    # volatile across record runs, yet the same in every session: files can be byte-compared
    RUNS[key] = RUNS.get(key, 0) + 1
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key}/{RUNS[key]}"))

@pytest.mark.parametrize("kind", ["small", "Big/One", "x" * 150])
def test_param(baseline, kind):
    baseline.check("v", {"kind": kind, "id": noisy_id(kind), "n": [3, 1, 2]})

class TestGroup:
    def test_a(self, api, baseline):
        baseline.check("doc", api.get("/doc"))

    def test_b(self, baseline):
        baseline.check("first", {"x": 1})
        baseline.check("second", [1, 2, 3])

def test_c(baseline):
    baseline.check("v", "plain string")
"""


def test_xdist_recording_matches_serial(bproject, pytester, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1800000000")
    bproject.tests(MANY)
    bproject.record().assert_outcomes(passed=6)
    serial = bproject.files()
    assert len(serial) == 6
    names = sorted(serial)
    assert "test_inner/TestGroup.test_a.json" in names
    assert "test_inner/test_param[small].json" in names
    # an unsafe id and an over-long id get a safe, hashed name
    assert any(n.startswith("test_inner/test_param[Big_One]-") for n in names)
    assert all(len(n.rsplit("/", 1)[1]) <= 130 for n in names)
    for path in (bproject.baseline_dir).rglob("*.json"):
        path.unlink()
    result = bproject.record("-n", "2")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*6 written, 0 updated, 0 unchanged*"])
    parallel = bproject.files()
    assert sorted(parallel) == sorted(serial)
    for name in serial:
        if "test_a" in name:
            continue  # the live document's first recording differs in its noise
        assert parallel[name] == serial[name], name
    assert '"recorded_at": "2027-01-15T08:00:00Z"' in parallel["test_inner/test_c.json"]
    # compare under -n 2: the controller merges every worker's accounting
    result = bproject.run("-n", "2")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "*deployverify baselines: 7 verified, 0 mismatched, 0 missing, 0 not verified, 0 unused files*"
        ]
    )


def test_xdist_recorded_at_comes_from_controller(bproject):
    bproject.tests(MANY)
    bproject.record("-n", "2").assert_outcomes(passed=6)
    stamps = {bproject.load(n)["recorded_at"] for n in bproject.files()}
    assert len(stamps) == 1

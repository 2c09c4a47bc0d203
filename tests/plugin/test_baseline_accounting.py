"""Session accounting: not verified, --fail-unverified, unused files, --delete-unused-baselines."""

from __future__ import annotations

import json

import baseline_support

noisy_service = baseline_support.noisy_service
noisy = baseline_support.noisy
bproject = baseline_support.bproject

TWO = """
def test_a(baseline):
    baseline.check("first", {"a": 1})
    baseline.check("second", {"a": 2})

def test_b(baseline):
    baseline.check("only", [1, 2, 3])
"""


def test_not_verified_listed_and_fail_unverified(bproject):
    bproject.tests(TWO)
    bproject.record().assert_outcomes(passed=2)
    result = bproject.run("-k", "test_a")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    out = result.stdout.str()
    assert (
        "deployverify baselines: 2 verified, 0 mismatched, 0 missing, 1 not verified, 0 unused files"
        in out
    )
    assert "not verified: baselines/test_inner/test_b.json::only" in out
    result = bproject.run("-k", "test_a", "--fail-unverified")
    result.assert_outcomes(passed=1)
    assert result.ret == 1
    assert "--fail-unverified: unverified observations fail this run" in result.stdout.str()
    # everything verified: the option changes nothing
    result = bproject.run("--fail-unverified")
    assert result.ret == 0


def test_observation_not_checked_by_a_test_that_ran(bproject):
    bproject.tests(TWO)
    bproject.record().assert_outcomes(passed=2)
    bproject.tests(TWO.replace('    baseline.check("second", {"a": 2})\n', ""))
    result = bproject.run()
    result.assert_outcomes(passed=2)
    assert "not verified: baselines/test_inner/test_a.json::second" in result.stdout.str()


def test_accounting_reaches_the_verdict_file(bproject, pytester):
    bproject.tests(TWO)
    bproject.record().assert_outcomes(passed=2)
    bproject.run("-k", "test_a", "--verdict-file", "v.json")
    verdict = json.loads((pytester.path / "v.json").read_text())
    acc = verdict["baseline_accounting"]
    assert acc["verified"] == [
        "baselines/test_inner/test_a.json::first",
        "baselines/test_inner/test_a.json::second",
    ]
    assert acc["not_verified"] == ["baselines/test_inner/test_b.json::only"]
    assert acc["record_mode"] is False


def test_unused_files_listed_and_deleted_only_on_a_whole_suite_run(bproject):
    bproject.tests(TWO)
    bproject.record().assert_outcomes(passed=2)
    stale = bproject.baseline_dir / "test_gone" / "test_x.json"
    stale.parent.mkdir(parents=True)
    stale.write_text((bproject.baseline_dir / "test_inner" / "test_b.json").read_text())
    bproject.tests(TWO.split("def test_b")[0])  # test_b deleted
    # a run of one module: only that module's unused files are its business
    result = bproject.run("test_inner.py")
    out = result.stdout.str()
    assert "unused file: baselines/test_inner/test_b.json" in out
    assert "test_gone" not in out
    # a whole-suite run lists both
    result = bproject.run()
    out = result.stdout.str()
    assert "2 unused files" in out
    assert "unused file: baselines/test_gone/test_x.json" in out
    assert "delete unused files with --delete-unused-baselines" in out
    # a subset run refuses to delete, and says why
    result = bproject.run("-k", "test_a", "--delete-unused-baselines")
    assert result.ret == 4  # refused before any test ran
    assert "--delete-unused-baselines refused: -k/-m selected a subset" in result.stderr.str()
    assert stale.exists()
    # the whole suite: deleted
    result = bproject.run("--delete-unused-baselines")
    assert result.ret == 0
    out = result.stdout.str()
    assert "deleted unused: baselines/test_gone/test_x.json" in out
    assert not stale.exists()
    assert sorted(bproject.files()) == ["test_inner/test_a.json"]


def test_xdist_accounting_merges_workers(bproject):
    bproject.tests(TWO + "\ndef test_c(baseline):\n    baseline.check('c', 1)\n")
    bproject.record("-n", "2").assert_outcomes(passed=3)
    result = bproject.run("-n", "2", "-k", "not test_c")
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert "deployverify baselines: 3 verified, 0 mismatched, 0 missing, 1 not verified" in out
    assert "not verified: baselines/test_inner/test_c.json::c" in out


def test_accounting_read_during_the_run_is_final_only_at_the_end(bproject, pytester):
    """Other components read accounting() while tests run; that must not freeze it."""
    bproject.tests(TWO)
    bproject.record().assert_outcomes(passed=2)
    pytester.makeconftest(
        """
        from pytest_deployverify.session import current

        def pytest_runtest_logreport(report):
            pass

        def pytest_collection_finish(session):
            acc = current(session.config).baseline.accounting()
            assert acc["not_verified"] == [] and acc["unused_files"] == []
        """
    )
    result = bproject.run("-k", "test_a")
    result.assert_outcomes(passed=1)
    assert "not verified: baselines/test_inner/test_b.json::only" in result.stdout.str()

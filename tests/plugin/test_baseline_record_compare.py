"""Record then compare: noise learned from two recordings passes, a real change fails."""

from __future__ import annotations

import baseline_support
from baseline_support import DOC_TEST

# the shared fixtures (a module, not a conftest: tests/plugin/conftest.py is shared)
noisy_service = baseline_support.noisy_service
noisy = baseline_support.noisy
bproject = baseline_support.bproject


def test_record_then_compare_passes(bproject, mode):
    bproject.tests(DOC_TEST)
    result = bproject.record(*mode)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*deployverify baselines (recorded into baselines, 2 runs): 1 written*"]
    )
    stored = bproject.load("test_inner/test_doc.json")
    assert stored["record_runs"] == 2
    assert stored["recorded_from"] == "noisy"
    rules = {r["path"]: r for r in stored["observations"]["doc"]["rules"]}
    # noise learned from two recordings, each with the shape it must keep
    assert rules["$.body.id"]["schema"] == {"type": "string", "format": "uuid"}
    assert rules["$.body.created_at"]["schema"] == {"type": "string", "format": "date-time"}
    assert rules["$.body.sha256"]["schema"] == {"type": "string", "pattern": "^[0-9a-f]{64}$"}
    assert rules["$.body.tags"]["kind"] == "unordered"
    # stable fields are not rules
    assert "$.body.title" not in rules and "$.body.chunks" not in rules

    result = bproject.run(*mode)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*deployverify baselines: 1 verified, 0 mismatched, 0 missing*"])


def test_real_change_fails_with_path(bproject, noisy):
    bproject.tests(DOC_TEST)
    bproject.record().assert_outcomes(passed=1)
    noisy.drift = "value"
    result = bproject.run()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "baseline 'doc' does not match baselines/test_inner/test_doc.json: 1 difference" in out
    assert (
        '$.body.title: expected "Quarterly report", observed "Quarterly report (draft)" [stable value]'
        in out
    )
    assert "1 mismatched" in out


def test_record_again_unchanged_then_updated(bproject, noisy):
    bproject.tests(
        """
        def test_plain(baseline):
            baseline.check("plain", {"a": 1, "b": [1, 2]})
        """
    )
    bproject.record().assert_outcomes(passed=1)
    before = bproject.files()
    result = bproject.record()
    result.stdout.fnmatch_lines(["*0 written, 0 updated, 1 unchanged*"])
    assert bproject.files() == before
    bproject.tests(
        """
        def test_plain(baseline):
            baseline.check("plain", {"a": 2, "b": [1, 2]})
        """
    )
    bproject.record().stdout.fnmatch_lines(["*0 written, 1 updated, 0 unchanged*"])
    assert bproject.load("test_inner/test_plain.json")["observations"]["plain"]["value"]["a"] == 2


def test_assert_eq_form_failure_message(bproject, monkeypatch):
    bproject.tests(
        """
        import os
        def test_eq(baseline):
            value = {"status": os.environ.get("DV_STATUS", "complete"), "n": 3}
            assert value == baseline("job")
        """
    )
    bproject.record().assert_outcomes(passed=1)
    bproject.run().assert_outcomes(passed=1)
    monkeypatch.setenv("DV_STATUS", "failed_parse")
    result = bproject.run()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "observation == baseline('job')" in out
    assert '$.status: expected "complete", observed "failed_parse" [stable value]' in out


def test_protected_target_refuses_record_before_tests(bproject, pytester):
    bproject.tests(
        """
        def test_never(baseline):
            open("ran.txt", "w").write("x")
        """
    )
    result = bproject.record("--target-env", "prod")
    assert result.ret == 4  # usage error
    result.stderr.fnmatch_lines(["*--record-baseline refused: target 'prod' is protected*"])
    # the hint names this project's unprotected environment, not a hard-coded one
    assert "run with --target-env noisy." in result.stderr.str()
    assert "--target-env local" not in result.stderr.str()
    assert not (pytester.path / "ran.txt").exists()
    assert bproject.files() == {}


def test_record_runs_must_be_positive(bproject):
    bproject.tests(DOC_TEST)
    result = bproject.record("--record-runs", "0")
    assert result.ret == 4
    assert "--record-runs 0 must be at least 1" in result.stderr.str()


def test_tests_without_baseline_run_once_in_record_mode(bproject, pytester):
    bproject.tests(
        """
        def test_plain():
            with open("count.txt", "a") as fh:
                fh.write("x")

        def test_checked(baseline):
            with open("count2.txt", "a") as fh:
                fh.write("x")
            baseline.check("v", 1)
        """
    )
    bproject.record("--record-runs", "3").assert_outcomes(passed=2)
    assert (pytester.path / "count.txt").read_text() == "x"
    assert (pytester.path / "count2.txt").read_text() == "xxx"

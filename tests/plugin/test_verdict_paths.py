"""Each verdict path, driven through pytest as a user would: the verdict, the recommendation,
the one-sentence reason, and the terminal line. Every rule has a run where it fires and one
where it does not (the pass run)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from verdict_support import FAKE_BASELINE_CONFTEST, load_verdict, write_fake_baseline

import pytest_deployverify.verdict  # noqa: F401  (imported before inner runs, see conftest)

SAMPLES_BASE = [0.50, 0.52, 0.49, 0.51, 0.50, 0.53, 0.48, 0.50]


def run(pytester: pytest.Pytester, source: str, *args: str, **baseline: Any) -> dict[str, Any]:
    pytester.makeconftest(FAKE_BASELINE_CONFTEST)
    pytester.makepyfile(test_inner=textwrap.dedent(source))
    if baseline:
        write_fake_baseline(pytester.path, **baseline)
    result = pytester.runpytest("-p", "no:cacheprovider", "--verdict-file", "v.json", *args)
    data = load_verdict(Path(pytester.path) / "v.json")
    data["_result"] = result
    return data


def test_all_passed_is_pass_promote(pytester: pytest.Pytester) -> None:
    data = run(
        pytester,
        """
        import pytest
        @pytest.mark.critical
        def test_a(): pass
        def test_b(): pass
        """,
        accounting={"verified": ["test_inner.json::a"]},
    )
    assert (data["verdict"], data["recommendation"]) == ("pass", "promote")
    assert data["reason"] == "All 2 tests passed."
    assert data["counts"]["passed"] == 2
    data["_result"].stdout.fnmatch_lines(
        ["*deployverify verdict: PASS -> promote: All 2 tests passed."]
    )
    assert data["_result"].ret == 0


def test_critical_failure_fails_and_names_the_test(pytester: pytest.Pytester) -> None:
    data = run(
        pytester,
        """
        import pytest
        @pytest.mark.critical
        def test_upload(): assert 200 == 500, "upload refused"
        def test_other(): assert False
        """,
    )
    assert (data["verdict"], data["recommendation"]) == ("fail", "roll_back")
    assert data["reason"].startswith("Critical test test_inner.py::test_upload failed")
    assert "upload refused" in data["reason"]
    assert [t["critical"] for t in data["tests"]] == [False, True]
    data["_result"].stdout.fnmatch_lines(
        ["*deployverify verdict: FAIL -> roll back: Critical test*"]
    )


def test_any_failed_test_fails(pytester: pytest.Pytester) -> None:
    data = run(pytester, "def test_a(): pass\ndef test_b(): assert 1 == 2\n")
    assert data["verdict"] == "fail"
    assert "test_inner.py::test_b failed" in data["reason"]


def test_setup_error_never_counts_as_passed(pytester: pytest.Pytester) -> None:
    data = run(
        pytester,
        """
        import pytest
        @pytest.fixture
        def broken(): raise TimeoutError("job did not finish within 60 s")
        def test_a(broken): pass
        def test_b(): pass
        """,
    )
    assert data["verdict"] == "fail"
    assert "test_inner.py::test_a errored" in data["reason"]
    assert data["counts"]["errors"] == 1


def test_errored_check_fails_even_when_the_test_passed(pytester: pytest.Pytester) -> None:
    data = run(
        pytester,
        """
        from pytest_deployverify.evidence import Finding
        from pytest_deployverify.evidence import EVIDENCE_KEY
        def test_a(request):
            ev = request.node.stash[EVIDENCE_KEY]
            ev.findings.append(Finding(check="job reaches complete", outcome="error",
                rule="status must reach complete within 60 s", observed="timeout",
                message="poll timed out", nodeid=request.node.nodeid,
                correlation_ids=["cid-1"]))
        """,
    )
    assert data["verdict"] == "fail"
    assert data["reason"] == (
        "Check job reaches complete could not be made in test_inner.py::test_a: poll timed out."
    )
    (check,) = data["checks"]
    assert check["outcome"] == "error" and check["correlation_ids"] == ["cid-1"]
    assert check["rule"] == "status must reach complete within 60 s"
    assert data["counts"]["checks_failed"] == 1


def test_inconclusive_check_holds(pytester: pytest.Pytester) -> None:
    data = run(
        pytester,
        """
        from pytest_deployverify.evidence import Finding
        from pytest_deployverify.evidence import EVIDENCE_KEY
        def test_a(request):
            request.node.stash[EVIDENCE_KEY].findings.append(Finding(
                check="webhook arrives", outcome="inconclusive", rule="within 5 s"))
        """,
    )
    assert (data["verdict"], data["recommendation"]) == ("inconclusive", "hold")
    assert "webhook arrives was inconclusive" in data["reason"]


def test_all_skipped_is_not_a_pass(pytester: pytest.Pytester) -> None:
    data = run(
        pytester,
        """
        import pytest
        @pytest.mark.skip(reason="destructive")
        def test_a(): pass
        @pytest.mark.skip(reason="destructive")
        def test_b(): pass
        """,
    )
    assert (data["verdict"], data["recommendation"]) == ("inconclusive", "hold")
    assert data["reason"] == "All 2 tests were skipped, nothing was verified."


def test_no_test_ran_is_not_a_pass(pytester: pytest.Pytester) -> None:
    data = run(pytester, "def test_a(): pass\n", "-k", "nothing_matches")
    assert data["verdict"] == "inconclusive"
    assert data["reason"] == "No test ran, so nothing was verified."


def test_collection_error_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_broken="import no_such_module_here\n")
    data = run(pytester, "def test_a(): pass\n")
    assert data["verdict"] == "fail"
    assert "collection error" in data["reason"]


def test_missing_baseline_fails(pytester: pytest.Pytester) -> None:
    data = run(
        pytester,
        "def test_a(): pass\n",
        accounting={"missing": ["test_inner/test_a.json"]},
    )
    assert data["verdict"] == "fail"
    assert data["reason"] == "Baseline missing for test_inner/test_a.json."
    assert data["baseline_accounting"]["missing"] == ["test_inner/test_a.json"]


def test_unverified_observations_fail_only_with_fail_unverified(pytester: pytest.Pytester) -> None:
    source = "def test_a(): pass\n"
    acc = {"verified": ["a.json::x"], "not_verified": ["b.json::upload"]}
    data = run(pytester, source, accounting=acc)
    assert data["verdict"] == "pass"
    data = run(pytester, source, "--fail-unverified", accounting=acc)
    assert data["verdict"] == "fail"
    assert "not verified by any selected test (--fail-unverified)" in data["reason"]
    assert data["_result"].ret == 1  # every test passed, the verdict still fails the run


PERF_TEST = """
SAMPLES = {samples!r}
def test_perf(timings):
    for s in SAMPLES:
        timings.record("pipeline.total", s)
"""


def test_timing_regression_fails_the_verdict(pytester: pytest.Pytester) -> None:
    slow = [s * 1.8 for s in SAMPLES_BASE]
    data = run(pytester, PERF_TEST.format(samples=slow), timings={"pipeline.total": SAMPLES_BASE})
    assert data["verdict"] == "fail"
    assert data["reason"].startswith("Timing pipeline.total: slower than allowed (1.2x)")
    (t,) = data["timings"]
    assert t["outcome"] == "fail" and t["ratio"] == pytest.approx(1.8, rel=0.01)
    assert t["ratio_ci"][0] > 1.2 and t["baseline"]["n"] == 8 and t["target"]["n"] == 8
    assert data["_result"].ret == 1


def test_timing_within_limit_passes(pytester: pytest.Pytester) -> None:
    data = run(
        pytester, PERF_TEST.format(samples=SAMPLES_BASE), timings={"pipeline.total": SAMPLES_BASE}
    )
    assert data["verdict"] == "pass"
    assert data["reason"] == "1 test passed, 1 timing within limits."


def test_too_few_timing_samples_hold(pytester: pytest.Pytester) -> None:
    data = run(
        pytester,
        PERF_TEST.format(samples=SAMPLES_BASE[:3]),
        timings={"pipeline.total": SAMPLES_BASE},
    )
    assert data["verdict"] == "inconclusive"
    assert "too few samples" in data["reason"]


def test_timing_without_baseline_samples_fails(pytester: pytest.Pytester) -> None:
    data = run(pytester, PERF_TEST.format(samples=SAMPLES_BASE), timings={})
    assert data["verdict"] == "fail"
    assert "the baseline has no samples for this timing" in data["reason"]


EXTERNAL_TEST = """
BASE = {base!r}
PARSER = {parser!r}
def test_pipeline(timings):
    for s, p in zip(BASE, PARSER):
        timings.record_run({{"stage_durations": {{"parse_queued": p, "chunking": s}},
                            "total_seconds": s + p}})
"""
# what the baseline recorded: parse_queued took s, chunking s, the total 2 s
EXTERNAL_BASELINE = {
    "pipeline.parse_queued": SAMPLES_BASE,
    "pipeline.chunking": SAMPLES_BASE,
    "pipeline.own": SAMPLES_BASE,
    "pipeline.total": [2 * s for s in SAMPLES_BASE],
}


def test_slower_external_parser_holds_instead_of_rolling_back(pytester: pytest.Pytester) -> None:
    parser = [3 * s for s in SAMPLES_BASE]  # the parser is 3x slower, our stages are not
    data = run(
        pytester,
        EXTERNAL_TEST.format(base=SAMPLES_BASE, parser=parser),
        timings=EXTERNAL_BASELINE,
    )
    by_name = {t["name"]: t for t in data["timings"]}
    assert {n: (t["group"], t["outcome"]) for n, t in by_name.items()} == {
        "pipeline.chunking": ("own", "pass"),
        "pipeline.own": ("own", "pass"),
        "pipeline.parse_queued": ("external", "fail"),
        "pipeline.total": ("external", "fail"),
    }
    assert by_name["pipeline.parse_queued"]["service"] == "parser"
    assert (data["verdict"], data["recommendation"]) == ("inconclusive", "hold")
    assert data["reason"].startswith("External: parser slower: pipeline.parse_queued:")
    assert "not our regression, hold" in data["reason"]
    assert data["_result"].ret == 6


def test_our_own_stage_regression_still_fails_next_to_external_time(
    pytester: pytest.Pytester,
) -> None:
    slow_own = [2 * s for s in SAMPLES_BASE]
    source = EXTERNAL_TEST.format(base=slow_own, parser=SAMPLES_BASE)
    data = run(pytester, source, timings=EXTERNAL_BASELINE)
    assert data["verdict"] == "fail"
    assert data["reason"].startswith("Timing pipeline.chunking: slower than allowed")


def test_external_fails_setting_makes_it_a_fail(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", pyproject="[tool.deployverify.perf]\nexternal_fails = true\n")
    parser = [3 * s for s in SAMPLES_BASE]
    data = run(
        pytester,
        EXTERNAL_TEST.format(base=SAMPLES_BASE, parser=parser),
        timings=EXTERNAL_BASELINE,
    )
    assert data["verdict"] == "fail"
    assert "pipeline.parse_queued" in data["reason"]


def test_own_timing_inconclusive_only_holds_when_otherwise_pass(pytester: pytest.Pytester) -> None:
    source = """
    SAMPLES = {samples!r}
    def test_perf(timings):
        for s in SAMPLES:
            timings.record("t", s)
    def test_broken(): assert False
    """
    data = run(pytester, source.format(samples=SAMPLES_BASE[:2]), timings={"t": SAMPLES_BASE})
    assert data["verdict"] == "fail"  # the failed test decides; the timing adds a reason
    assert any("too few samples" in r for r in data["reasons"])

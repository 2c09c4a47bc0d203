"""The verdict's reason sentences: counts read as English for one test and for several."""

from __future__ import annotations

from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.verdict import Facts, decide


def _evidence(*outcomes: str) -> dict[str, TestEvidence]:
    return {
        f"t.py::test_{i}": TestEvidence(nodeid=f"t.py::test_{i}", outcome=outcome)
        for i, outcome in enumerate(outcomes)
    }


def test_one_skipped_test_is_singular():
    decision = decide(Facts(evidence=_evidence("skipped"), selected=1))
    assert decision.verdict == "inconclusive"
    assert decision.reason == "The only test was skipped, nothing was verified."


def test_several_skipped_tests_are_plural():
    decision = decide(Facts(evidence=_evidence("skipped", "skipped"), selected=2))
    assert decision.reason == "All 2 tests were skipped, nothing was verified."


def test_one_passed_test_is_not_all_one():
    decision = decide(Facts(evidence=_evidence("passed", "skipped"), selected=2))
    assert decision.verdict == "pass"
    assert decision.reason == "1 test passed (1 skipped)."


def test_several_passed_tests_say_all():
    decision = decide(Facts(evidence=_evidence("passed", "passed"), selected=2))
    assert decision.reason == "All 2 tests passed."


def test_one_more_failure_is_singular():
    decision = decide(Facts(evidence=_evidence("failed", "failed"), selected=2))
    assert decision.verdict == "fail"
    assert decision.reason.endswith("and 1 more test did not pass.")

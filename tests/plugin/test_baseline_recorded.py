"""``baseline.recorded(name)``: the stored value, for comparisons the rules cannot express
(here: a noisy score compared within a tolerance the test computes itself, against the noisy
service, not docservice)."""

from __future__ import annotations

import baseline_support

noisy_service = baseline_support.noisy_service
noisy = baseline_support.noisy
bproject = baseline_support.bproject

CUSTOM = """
def test_score(api, baseline):
    body = api.get("/doc").json()
    baseline.check("score", {"score": body["score"]}, ignore=["$.score"])
    if not baseline.recording:
        stored = baseline.recorded("score")
        assert abs(body["score"] - stored["score"]) <= 0.01, (body["score"], stored)
        stored["score"] = None  # a copy: the next call still sees the stored value
        assert baseline.recorded("score")["score"] is not None
"""


def test_recorded_returns_the_stored_value(bproject):
    bproject.tests(CUSTOM)
    bproject.record().assert_outcomes(passed=1)
    stored = bproject.load("test_inner/test_score.json")["observations"]["score"]["value"]
    assert 0.89 < stored["score"] < 0.91
    bproject.run().assert_outcomes(passed=1)


def test_recorded_score_outside_the_tolerance_fails(bproject):
    bproject.tests(CUSTOM)
    bproject.record().assert_outcomes(passed=1)
    path = bproject.baseline_dir / "test_inner/test_score.json"
    path.write_text(path.read_text().replace('"score": 0.', '"score": 0.5'))
    result = bproject.run()
    result.assert_outcomes(failed=1)
    # the observed score jitters around 0.9 (0.896-0.904: which one depends on how many
    # documents the shared service served before); the stored one now starts with 0.5
    result.stdout.re_match_lines([r".*AssertionError: \(0\.(89|90)\d*, \{'score': 0\.5\d*\}\)"])


def test_recorded_without_a_baseline_names_the_record_command(bproject):
    bproject.tests(
        """
        def test_nothing(baseline):
            baseline.recorded("never")
        """
    )
    result = bproject.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*BaselineMismatch: baseline 'never' is missing from "
            "baselines/test_inner/test_nothing.json; record it with:",
            "*pytest 'test_inner.py::test_nothing' --record-baseline --target-env noisy",
        ]
    )


def test_recorded_while_recording_is_an_error(bproject):
    bproject.tests(
        """
        def test_early(baseline):
            baseline.check("x", 1)
            baseline.recorded("x")
        """
    )
    result = bproject.record()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: baseline.recorded('x') while recording*"])

"""Learned shapes accept every value they were learned from, for lists of varying length at
any depth; a recording the learned rules reject fails at record time, naming the path."""

from __future__ import annotations

import pytest

from pytest_deployverify.baseline import compare, learn

VARYING = {
    "list": [{"tags": ["a"]}, {"tags": ["a", "b", "c"]}, {"tags": ["b", "c"]}],
    "nested lists": [{"m": [[1, 2], [3]]}, {"m": [[1], [2, 3, 4], []]}],
    "list of records": [
        {"rows": [{"id": "x", "n": 1}]},
        {"rows": [{"id": "y", "n": 2}, {"id": "z", "n": 3, "extra": True}]},
    ],
    "empty list": [{"items": []}, {"items": [1, 2]}],
    "empty then nested": [{"a": {"b": [[]]}}, {"a": {"b": [[1], [2, 3]]}}],
    "whole value is a list": [["pending"], ["pending", "started", "success"]],
    "deep records": [
        {"pages": [{"blocks": [{"t": "a"}]}]},
        {"pages": [{"blocks": []}, {"blocks": [{"t": "b"}, {"t": "c"}]}]},
    ],
}


@pytest.mark.parametrize("case", sorted(VARYING))
def test_learned_rules_accept_every_recording(case):
    runs = VARYING[case]
    stored, rules = learn.learn(runs)
    assert rules, "lists of varying length must be learned as volatile"
    for run in runs:
        assert compare.compare(stored, run, rules) == [], (case, run, rules)


def test_a_learned_list_shape_still_rejects_wrong_items():
    stored, rules = learn.learn(VARYING["list"])
    (diff,) = compare.compare(stored, {"tags": ["a", 7]}, rules)
    assert diff.path.startswith("$.tags") and "string" in diff.detail
    stored, rules = learn.learn(VARYING["list of records"])
    diffs = compare.compare(stored, {"rows": [{"id": None, "n": 1}]}, rules)
    assert [d.path for d in diffs] and all(d.path.startswith("$.rows") for d in diffs)


LENGTHS = """
import itertools
COUNT = itertools.count()

def test_lists(baseline):
    n = next(COUNT) % 3
    value = {
        "tags": ["t"] * (n + 1),
        "nested": [[i] * n for i in range(n + 1)],
        "records": [{"id": f"r{i}", "size": i} for i in range(n)],
        "empty": [] if n == 0 else ["x"],
    }
    baseline.check("value", value)
"""


def test_varying_lists_record_and_compare(project, alt):
    project.alt(alt)
    project.tests(LENGTHS)
    project.run("--record-baseline", "--record-runs", "3").assert_outcomes(passed=1)
    # a fourth length compares fine; so do the recorded ones (the counter goes on)
    for _ in range(3):
        project.run().assert_outcomes(passed=1)


TOO_TIGHT = """
import itertools
COUNT = itertools.count(1)

def test_tight(baseline):
    baseline.check("v", {"latency": float(next(COUNT))}, tolerance={"$.latency": 0.01})
"""


def test_rules_that_reject_a_recording_fail_at_record_time(project, alt):
    project.alt(alt)
    project.tests(TOO_TIGHT)
    result = project.run("--record-baseline")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*baseline 'v': the rules learned from 2 recordings reject recording 2*",
            "*$.latency*",
        ]
    )
    assert not list((project.pytester.path / "baselines").rglob("*.json"))

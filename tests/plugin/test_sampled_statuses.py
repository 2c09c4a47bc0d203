"""Statuses sampled by polling are compared as an in-order walk of the profile's model."""

from __future__ import annotations

from pytest_deployverify.baseline import compare
from pytest_deployverify.baseline.normalise import normalise
from pytest_deployverify.pipeline_run import PipelineRun, StatusEvent, StatusSequence, status_walk

MODEL = ("pending", "started", "success")
TERMINAL = ("success", "failure")


def _seq(*names: str, source: str = "polling") -> StatusSequence:
    return StatusSequence(list(names), source=source, model=MODEL, terminal=TERMINAL)


def test_a_missed_intermediate_status_compares_equal():
    seen = normalise(_seq("pending", "started", "success"))
    missed = normalise(_seq("pending", "success"))
    assert seen == missed
    assert compare.compare(seen, missed) == []
    # still a list to the test that asserts on it
    assert _seq("pending", "success") == ["pending", "success"]


def test_what_a_sampled_walk_catches():
    assert status_walk(["pending", "succeeded"], MODEL, TERMINAL)["outside_model"] == ["succeeded"]
    assert status_walk(["started", "pending", "success"], MODEL, TERMINAL)["out_of_order"] == [
        "started -> pending"
    ]
    base = normalise(_seq("pending", "success"))
    diffs = compare.compare(base, normalise(_seq("pending", "started", "failure")))
    assert [d.path for d in diffs] == ["$.terminal"]
    renamed = compare.compare(base, normalise(_seq("pending", "done")))
    assert {d.path.split("[")[0] for d in renamed} == {"$.outside_model", "$.terminal"}


def test_an_event_trail_is_compared_exactly():
    trail = normalise(_seq("pending", "started", "success", source="events"))
    assert trail == ["pending", "started", "success"]
    assert compare.compare(trail, normalise(_seq("pending", "success", source="events")))


def test_without_a_model_only_the_terminal_status_counts():
    walk = status_walk(["queued", "busy", "done"], (), ("done",))
    assert walk["outside_model"] == [] and walk["out_of_order"] == [] and walk["terminal"] == "done"


def _run(*names: str, source: str = "poll") -> PipelineRun:
    return PipelineRun(
        filename="a.pdf",
        correlation_id="c",
        outcome="complete",
        final_status=names[-1],
        statuses=[StatusEvent(status=n, source=source) for n in names],
        status_model=MODEL,
        terminal_statuses=TERMINAL,
    )


def test_a_whole_run_is_compared_the_same_way():
    one, other = _run("pending", "started", "success"), _run("pending", "success")
    assert one.status_source == "polling"
    assert compare.compare(normalise(one), normalise(other)) == []
    trail = _run("pending", "started", "success", source="events")
    assert trail.status_source == "events"
    assert normalise(trail)["statuses"] == ["pending", "started", "success"]
    assert normalise(trail)["status_count"] == 3


SAMPLED = """
import itertools
COUNT = itertools.count()
from pytest_deployverify.pipeline_run import PipelineRun, StatusEvent

def test_run(baseline):
    # what polling a short 'started' status looks like: seen in some runs, not in others
    names = ["pending", "started", "success"] if next(COUNT) % 2 else ["pending", "success"]
    run = PipelineRun(filename="a.pdf", correlation_id="c", outcome="complete",
                      final_status="success", statuses=[StatusEvent(n) for n in names],
                      status_model=("pending", "started", "success"),
                      terminal_statuses=("success", "failure"))
    baseline.check("run", run)
    baseline.check("statuses", run.status_sequence)
"""


def test_record_and_compare_sampled_runs(project, alt):
    project.alt(alt)
    project.tests(SAMPLED)
    project.run("--record-baseline", "--record-runs", "3").assert_outcomes(passed=1)
    for _ in range(4):
        project.run().assert_outcomes(passed=1)

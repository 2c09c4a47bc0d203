"""timings.record_run without server timestamps records client-observed timings, marked as
such in the verdict; it never records nothing silently."""

from __future__ import annotations

import pytest

from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.perf import PerfConfig, Timings
from pytest_deployverify.perf_session import (
    SessionReference,
    judge_session_timings,
    judge_timings,
    observed_timings,
)
from pytest_deployverify.pipeline_run import PipelineRun, StatusEvent, stage_durations


def _run(stamped: bool) -> PipelineRun:
    statuses = [
        StatusEvent("pending", at="2026-01-01T00:00:00Z" if stamped else None, seen_s=0.01),
        StatusEvent("started", at="2026-01-01T00:00:01Z" if stamped else None, seen_s=0.05),
        StatusEvent("success", at="2026-01-01T00:00:03Z" if stamped else None, seen_s=0.09),
    ]
    run = PipelineRun(
        filename="a.pdf",
        correlation_id="c",
        outcome="complete",
        final_status="success",
        statuses=statuses,
        client_seconds=0.12,
    )
    run.stage_durations, run.total_seconds = stage_durations(statuses)
    return run


def test_server_timestamps_give_stage_timings():
    ev = TestEvidence(nodeid="t")
    Timings(ev, PerfConfig()).record_run(_run(stamped=True), prefix="convert")
    assert ev.timings == {
        "convert.pending": [1.0],
        "convert.started": [2.0],
        "convert.total": [3.0],
    }
    assert _run(stamped=True).timing_source == "server"


def test_without_server_timestamps_the_client_observed_timings_are_recorded():
    run = _run(stamped=False)
    assert run.timing_source == "client"
    assert run.client_seen == {"pending": 0.01, "started": 0.05, "success": 0.09}
    ev = TestEvidence(nodeid="t")
    Timings(ev, PerfConfig()).record_run(run, prefix="convert")
    # the final status (always seen) and end to end are judged; the intermediate statuses'
    # first sightings are recorded in the "observed" group, which is never judged
    assert ev.timings == {
        "convert.client.success": [0.09],
        "convert.client.total": [0.12],
        "convert.client.pending": [0.01],
        "convert.client.started": [0.05],
    }
    assert ev.timing_groups == {
        "convert.client.success": "own",
        "convert.client.total": "own",
        "convert.client.pending": "observed",
        "convert.client.started": "observed",
    }


def test_observed_timings_are_shown_and_never_judged():
    """A short status seen in this run only (no reference samples at all) is not a failed
    timing: it is listed with its samples, its median and why it is not judged."""
    ev = TestEvidence(nodeid="t")
    timings = Timings(ev, PerfConfig())
    for _ in range(5):
        timings.record_run(_run(stamped=False), prefix="convert")
    reference = SessionReference(
        samples={"convert.client.success": [0.09] * 5, "convert.client.total": [0.12] * 5},
        label="baseline",
    )
    judged = judge_session_timings({"t": ev}, reference, PerfConfig())
    assert {r.name for r in judged} == {"convert.client.success", "convert.client.total"}
    assert all(r.outcome == "pass" for r in judged)
    observed = observed_timings({"t": ev})
    assert [(o["name"], o["n"], o["median"]) for o in observed] == [
        ("convert.client.pending", 5, 0.01),
        ("convert.client.started", 5, 0.05),
    ]
    assert "not judged" in observed[0]["rule"] and "client-observed" in observed[0]["rule"]
    # and with server timestamps there is nothing "observed": every stage is judged
    stamped = TestEvidence(nodeid="s")
    Timings(stamped, PerfConfig()).record_run(_run(stamped=True), prefix="convert")
    assert observed_timings({"s": stamped}) == []


def test_observed_timings_do_not_keep_a_sampler_going():
    """timings.sample stops once the judged timings are decided, whatever the reference
    holds for an intermediate status."""
    ev = TestEvidence(nodeid="t")
    ref = {
        "convert.client.success": [0.09] * 10,
        "convert.client.total": [0.12] * 10,
        "convert.client.started": [9.0] * 10,  # would fail if it were judged
    }
    timings = Timings(ev, PerfConfig(), reference=ref.get, family_size=2)
    results = timings.sample("convert", lambda: _run(stamped=False), min_samples=5, max_samples=5)
    assert {r.name for r in results} == {"convert.client.success", "convert.client.total"}


def test_the_verdict_marks_client_observed_timings():
    results = judge_timings(
        {"convert.client.total": [0.1] * 5, "convert.total": [0.1] * 5},
        {},
        {"convert.client.total": [0.1] * 5, "convert.total": [0.1] * 5},
        PerfConfig(),
    )
    by_name = {r.name: r for r in results}
    assert "client-observed" in by_name["convert.client.total"].rule
    assert "client-observed" in by_name["convert.client.total"].reason
    assert "client-observed" not in by_name["convert.total"].rule


def test_a_run_with_nothing_to_record_is_an_error():
    with pytest.raises(ValueError, match="nothing to record under 'convert'"):
        Timings(TestEvidence(nodeid="t"), PerfConfig()).record_run(
            {"stage_durations": {}, "total_seconds": None}, prefix="convert"
        )

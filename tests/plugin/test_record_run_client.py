"""timings.record_run without server timestamps records client-observed timings, marked as
such in the verdict; it never records nothing silently."""

from __future__ import annotations

import pytest

from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.perf import PerfConfig, Timings
from pytest_deployverify.perf_session import judge_timings
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
    # the final status (always seen) and end to end; an intermediate status polling may
    # miss is not timed (a timing absent from the baseline would fail)
    assert ev.timings == {"convert.client.success": [0.09], "convert.client.total": [0.12]}


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

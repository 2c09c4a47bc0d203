"""PipelineRun.describe() names a disagreement between the polled job status and the trail.

docservice's ``empty_status`` fault serves the job resource with ``status: null`` while the
job's event trail still reaches ``complete``: the follower never sees a valid status and the
run stalls. The description must say both values instead of only "final status 'uploaded'".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from plugin_support import launched_docservice

from pytest_deployverify.pipeline_run import PipelineRun, StatusEvent

TRAIL = ("uploaded", "parse_queued", "complete")


def _run(job_status: Any, trail: tuple[str, ...], outcome: str = "stalled") -> PipelineRun:
    return PipelineRun(
        filename="small.pdf",
        correlation_id="cid-1",
        job_id="job-1",
        document_id="doc-1",
        outcome=outcome,
        final_status="uploaded",
        statuses=[StatusEvent(s, at=None, source="events") for s in trail],
        job={"id": "job-1", "status": job_status},
        job_status=job_status,
    )


def test_null_status_with_a_complete_trail_is_named():
    text = _run(None, TRAIL).describe()
    assert (
        "ended 'stalled' (final status 'uploaded'); the job resource reports status None while "
        "its event trail reached 'complete' (outcome stays 'stalled': not a verified completion)"
    ) in text


def test_agreeing_status_and_trail_say_nothing_extra():
    run = _run("complete", TRAIL, outcome="complete")
    assert run.status_conflict() is None
    assert "event trail" not in run.describe()


def test_a_stall_the_trail_confirms_is_not_a_conflict():
    run = _run("parse_queued", TRAIL[:2])
    assert run.status_conflict() is None
    assert run.describe().startswith("document 'small.pdf' ended 'stalled' (final status")


def test_no_trail_or_no_poll_is_not_a_conflict():
    assert _run(None, ()).status_conflict() is None
    no_poll = _run(None, TRAIL)
    no_poll.job = None
    assert no_poll.status_conflict() is None


@pytest.fixture(scope="module")
def empty_status_docservice() -> Iterator[Any]:
    """A docservice deployment (SQLite) launched with the ``empty_status`` fault."""
    with launched_docservice("--fault", "empty_status", name="test-empty-status") as ds:
        yield ds


INNER = """
def test_upload(upload_document):
    run = upload_document({pdf!r})
    print("DESCRIBE:", run.describe())
    assert run.outcome == {outcome!r}, run.describe()
    assert (run.status_conflict() is None) is {agrees!r}, run.describe()
"""


def test_empty_status_fault_is_described(empty_status_docservice, project, monkeypatch, small_pdf):
    project.docservice(empty_status_docservice, monkeypatch)
    project.tests(INNER.format(pdf=small_pdf, outcome="stalled", agrees=False))
    result = project.run("-s", "--stall-timeout", "1", "--job-deadline", "20")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*DESCRIBE: document 'small.pdf' ended 'stalled' (final status 'uploaded'); the job "
            "resource reports status None while its event trail reached 'complete' (outcome "
            "stays 'stalled': not a verified completion); rule: *"
        ]
    )


def test_healthy_docservice_has_no_conflict(docservice, project, monkeypatch, small_pdf):
    project.docservice(docservice, monkeypatch)
    project.tests(INNER.format(pdf=small_pdf, outcome="complete", agrees=True))
    result = project.run("-s", "--job-deadline", "20")
    result.assert_outcomes(passed=1)
    assert "event trail" not in result.stdout.str()

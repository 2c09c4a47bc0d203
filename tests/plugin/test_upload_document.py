"""upload_document: follow a job to its end; complete, failed, stalled, deadline, rejected."""

from __future__ import annotations

import pytest

from pytest_deployverify.evidence import CleanupResult


def _alt_project(project, alt):
    project.alt(alt)


def test_complete_run_against_alt(project, alt, small_pdf, evidence, mode):
    _alt_project(project, alt)
    project.tests(
        f"""
        def test_complete(upload_document, correlation_id):
            run = upload_document({small_pdf!r}, metadata={{"purpose": "smoke"}})
            run.raise_for_outcome()
            assert run.final_status == "DONE" and run.outcome == "complete"
            assert run.document_id and run.job_id and run.upload_status_code == 201
            assert run.correlation_id == correlation_id
            seq = run.status_sequence
            assert seq[0] == "RECEIVED" and seq[-1] == "DONE"
            assert all(e.source == "poll" and e.at for e in run.statuses)
            assert run.total_seconds is not None and run.total_seconds > 0
            assert run.document["name"] == "small.pdf"
            assert run.exchanges and all(x.correlation_id == correlation_id for x in run.exchanges)
            obs = run.to_observation()
            # no event trail: the statuses were sampled by polling, compared as a walk
            assert run.status_source == "polling" and seq.sampled
            assert obs["final_status"] == "DONE" and obs["statuses"] == {{
                "sampled": "by polling: intermediate statuses may be missed",
                "terminal": "DONE",
                "outside_model": [],
                "out_of_order": [],
            }}
            assert "status_count" not in obs
        """
    )
    result = project.run(*mode)
    result.assert_outcomes(passed=1)
    ev = evidence(result)["test_complete"]
    assert ev.runs and ev.runs[0]["outcome"] == "complete"
    assert ev.cleanup == [
        CleanupResult(
            document_id=ev.runs[0]["document_id"],
            filename="small.pdf",
            correlation_id=ev.runs[0]["correlation_id"],
            http_status=200,
            result="deleted",
        )
    ]
    assert ev.cleanup[0].ok and ev.cleanup[0].status == "deleted (HTTP 200)"
    assert not alt.files  # the target is left as it was found


def test_failure_status_is_an_outcome_with_evidence(project, alt, small_pdf):
    _alt_project(project, alt)
    project.tests(
        f"""
        def test_broken(upload_document):
            run = upload_document({small_pdf!r}, metadata={{"behaviour": "fail"}})
            assert run.outcome == "failed" and run.final_status == "BROKEN"
            assert run.last_error == {{"why": "scanner broke"}}
            run.raise_for_outcome()
        """
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            ">*run.raise_for_outcome()",
            "E *AssertionError: document 'small.pdf' ended 'failed' (final status 'BROKEN'); "
            "rule: terminal status DONE within 60 s*; observed: RECEIVED -> *BROKEN; "
            "correlation ID *, job *; last error: {'why': 'scanner broke'}",
        ]
    )
    assert not alt.files


def test_stall_is_distinct_from_deadline(project, alt, small_pdf, mode):
    _alt_project(project, alt)
    project.tests(
        f"""
        def test_stalls(upload_document):
            run = upload_document({small_pdf!r}, metadata={{"behaviour": "stall"}})
            assert run.outcome == "stalled", run.describe()
            assert run.final_status == "INDEXING"
            assert run.client_seconds < 5

        def test_deadline(upload_document):
            # keeps moving (a status every 0.25 s) but not done within 0.4 s
            run = upload_document({small_pdf!r}, metadata={{"step": 0.25}}, deadline=0.4)
            assert run.outcome == "deadline", run.describe()
            assert run.final_status in ("RECEIVED", "SCANNING")
            with __import__("pytest").raises(AssertionError, match="ended 'deadline'"):
                run.raise_for_outcome()
        """
    )
    # fail fast off: the deadline test uploads after the stall proved the pipeline broken
    result = project.run("--stall-timeout", "0.5", "--fail-fast", "off", *mode)
    result.assert_outcomes(passed=2)


def test_job_deadline_option(project, alt, small_pdf):
    _alt_project(project, alt)
    project.tests(
        f"""
        def test_deadline(upload_document):
            run = upload_document({small_pdf!r}, metadata={{"step": 0.3}})
            assert run.outcome == "deadline"
            assert "within 0.2 s" in run.rule
        """
    )
    project.run("--job-deadline", "0.2").assert_outcomes(passed=1)


def test_rejected_upload(project, alt, small_pdf):
    _alt_project(project, alt)
    alt.knobs["reject_uploads"] = True
    project.tests(
        f"""
        def test_rejected(upload_document):
            run = upload_document({small_pdf!r})
            assert run.outcome == "rejected" and run.upload_status_code == 422
            assert run.last_error == {{"status": 422, "body": {{"problem": "uploads closed"}}}}
        """
    )
    result = project.run()
    result.assert_outcomes(passed=1)
    assert "cleanup of synthetic documents" not in result.stdout.str()  # nothing was created


def test_poll_limit_is_honoured(project, alt, small_pdf):
    """The service answers 429 + Retry-After to fast polls: the run still completes."""
    _alt_project(project, alt)
    alt.knobs["poll_limit"] = 0.05
    project.tests(
        f"""
        def test_limited(upload_document):
            run = upload_document({small_pdf!r})
            run.raise_for_outcome()
        """
    )
    project.run().assert_outcomes(passed=1)
    polls = [r for r in alt.requests if r["path"].startswith("/ingest/v1/tasks/")]
    assert polls


def test_expect_terminal_false_returns_after_upload(project, alt, small_pdf):
    _alt_project(project, alt)
    project.tests(
        f"""
        def test_no_follow(upload_document):
            run = upload_document({small_pdf!r}, expect_terminal=False)
            assert run.job_id and run.final_status == "RECEIVED" and run.polls == 0
        """
    )
    project.run().assert_outcomes(passed=1)


def test_cleanup_false_keeps_the_document(project, alt, small_pdf):
    _alt_project(project, alt)
    project.tests(
        f"""
        def test_keep(upload_document):
            upload_document({small_pdf!r}, cleanup=False).raise_for_outcome()
        """
    )
    project.run().assert_outcomes(passed=1)
    assert len(alt.files) == 1
    alt.files.clear()


def test_keep_documents_option(project, alt, small_pdf):
    _alt_project(project, alt)
    project.tests(
        f"""
        def test_keep(upload_document):
            upload_document({small_pdf!r}).raise_for_outcome()
        """
    )
    project.run("--keep-documents").assert_outcomes(passed=1)
    assert len(alt.files) == 1
    alt.files.clear()


@pytest.mark.parametrize("name", ["small.pdf"])
def test_real_pdf_on_docservice(project, docservice, monkeypatch, name, evidence, mode):
    """A real PDF through the real pipeline: statuses from the event trail, outputs."""
    project.docservice(docservice, monkeypatch)
    pdf = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "fixtures" / name)
    project.tests(
        f"""
        def test_real(upload_document):
            run = upload_document({pdf!r})
            run.raise_for_outcome()
            assert run.status_sequence[0] == "uploaded"
            assert run.status_sequence[-1] == "complete"
            assert all(e.source == "events" for e in run.statuses)
            assert set(run.stage_durations) >= {{"uploaded", "embeddings_stored"}}
            assert run.document["chunk_count"] >= 1
            assert run.document["vector_count"] == run.document["chunk_count"]
        """
    )
    result = project.run(*mode)
    result.assert_outcomes(passed=1)
    ev = evidence(result)["test_real"]
    assert [c.result for c in ev.cleanup] == ["deleted"]

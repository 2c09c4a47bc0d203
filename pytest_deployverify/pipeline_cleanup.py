"""Deleting the documents a test uploaded, at its teardown: one ``CleanupResult`` each.

Every document gets a result the report shows: ``deleted``, ``gone`` (already deleted),
``skipped`` (a duplicate upload that existed before the test, or a service whose pipeline
profile declares no delete route) or ``failed`` with the reason (the target proven down by
fail fast, a transport error, the service's refusal). Nothing is hidden and nothing fails
the test.
"""

from __future__ import annotations

from collections.abc import Callable

import requests

from pytest_deployverify.client import ApiClient
from pytest_deployverify.evidence import CleanupResult
from pytest_deployverify.failfast import TARGET, Breaker
from pytest_deployverify.pipeline_run import PipelineRun
from pytest_deployverify.profile import PipelineProfile
from pytest_deployverify.redact import redact_text, response_error


def delete_created(
    pending: list[PipelineRun],
    skipped: list[PipelineRun],
    *,
    profile: PipelineProfile,
    breaker: Breaker | None,
    client_factory: Callable[[], ApiClient],
    secrets: list[str],
) -> list[CleanupResult]:
    """Delete the documents of ``pending``; ``skipped`` existed before the test (duplicates)."""
    results = [
        _cleanup_result(run, "skipped", "duplicate upload: the document existed before this test")
        for run in skipped
    ]
    # a refused upload created nothing: there is nothing to delete or to report
    pending = [
        r
        for r in pending
        if r.document_id or (r.upload_status_code is not None and r.upload_status_code < 300)
    ]
    down = breaker.blocking(TARGET) if breaker is not None else None
    if pending and not profile.delete_path:
        # a route the profile declares absent: say so per document, never fail or hide it
        for run in pending:
            results.append(
                _cleanup_result(
                    run,
                    "skipped",
                    "the service has no delete route (declared absent in the "
                    "pipeline profile): the document was left in place",
                )
            )
    elif pending and down is not None:
        # no answer would come: say so per document instead of timing out again
        reason = down.not_run()
        for run in pending:
            results.append(_cleanup_result(run, "failed", reason))
    elif pending:
        client = client_factory()
        try:
            for run in pending:
                results.append(_delete(client, run, profile, secrets))
        finally:
            client.close()
    return results


def _delete(
    client: ApiClient, run: PipelineRun, profile: PipelineProfile, secrets: list[str]
) -> CleanupResult:
    if not run.document_id:
        return _cleanup_result(run, "failed", "the upload response named no document")
    path = profile.delete_path.format(document_id=run.document_id, job_id=run.job_id)
    try:
        response = client.delete(path)
    except (requests.RequestException, OSError) as exc:
        return _cleanup_result(run, "failed", redact_text(str(exc), secrets)[:300])
    status = response.status_code
    if status in (200, 202, 204):
        return _cleanup_result(run, "deleted", None, status)
    if status in (404, 410):
        return _cleanup_result(run, "gone", "already deleted", status)
    reason = str(response_error(response, secrets))[:300]
    return _cleanup_result(run, "failed", reason, status)


def _cleanup_result(
    run: PipelineRun, result: str, reason: str | None, http_status: int | None = None
) -> CleanupResult:
    return CleanupResult(
        document_id=run.document_id,
        filename=run.filename,
        correlation_id=run.correlation_id,
        result=result,
        reason=reason,
        http_status=http_status,
    )

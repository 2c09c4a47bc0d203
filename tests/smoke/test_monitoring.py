"""Can operators see the deployment? The metrics endpoint must expose the expected series, and
a canary must move the counters (a dashboard fed by frozen counters is no monitoring)."""

from __future__ import annotations

import pytest
from smoke_support import metric_total

# docservice_jobs_failed_total{status} is labelled: it appears once a job has failed, which a
# healthy deployment may never have done, so it is not required.
EXPECTED_SERIES = (
    "docservice_uploads_total",
    "docservice_jobs_completed_total",
    "docservice_stage_duration_seconds_count",
    "docservice_stage_duration_seconds_bucket",
    "docservice_queue_depth",
    "docservice_worker_heartbeat_age_seconds",
    "docservice_http_requests_total",
)
ALWAYS_PRESENT = (
    "docservice_queue_depth",
    "docservice_worker_heartbeat_age_seconds",
    "docservice_http_requests_total",
)


@pytest.mark.nondestructive
def test_metrics_expose_the_expected_series(scrape_metrics):
    """The deployment-wide series are on /metrics from the start."""
    samples = scrape_metrics()
    present = {name for name, _ in samples}
    # Labelled job counters appear after their first increment, so an idle fresh deployment
    # may lack them: the canary test below checks those.
    missing = [s for s in ALWAYS_PRESENT if s not in present]
    assert not missing, (
        f"/metrics lacks {missing}; rule: expose {list(ALWAYS_PRESENT)} "
        f"(found {len(present)} series: {sorted(present)[:20]})"
    )


@pytest.mark.canary
def test_a_canary_moves_the_counters(
    scrape_metrics, upload_document, canary_pdf, validate_run, component_check
):
    """uploads{result=accepted}, jobs_completed and the stage histogram count grow with a
    canary; the counters of every expected series are present afterwards."""
    before = scrape_metrics()
    run = validate_run(upload_document(canary_pdf("small.pdf")))
    run.raise_for_outcome()
    after = scrape_metrics()
    present = {name for name, _ in after}
    missing = [s for s in EXPECTED_SERIES if s not in present]
    assert not missing, (
        f"/metrics lacks {missing} after a completed canary; rule: expose {list(EXPECTED_SERIES)}; "
        f"{run.describe()}"
    )
    moved = {
        "docservice_uploads_total{result=accepted}": (
            metric_total(before, "docservice_uploads_total", result="accepted"),
            metric_total(after, "docservice_uploads_total", result="accepted"),
        ),
        "docservice_jobs_completed_total": (
            metric_total(before, "docservice_jobs_completed_total"),
            metric_total(after, "docservice_jobs_completed_total"),
        ),
        "docservice_stage_duration_seconds_count": (
            metric_total(before, "docservice_stage_duration_seconds_count"),
            metric_total(after, "docservice_stage_duration_seconds_count"),
        ),
    }
    frozen = {name: pair for name, pair in moved.items() if pair[1] < pair[0] + 1}
    component_check(
        "monitoring",
        "fail" if frozen else "pass",
        observed={name: {"before": b, "after": a} for name, (b, a) in moved.items()},
        rule="/metrics counters grow with a completed canary",
        message=(
            "counters not moving: "
            + ", ".join(f"{name} {b:g} -> {a:g}" for name, (b, a) in sorted(frozen.items()))
            + f" with canary {run.correlation_id} complete"
            if frozen
            else "counters moved"
        ),
    )
    assert not frozen, (
        f"counters did not move with a completed canary: {frozen} (before, after); rule: each "
        f"grows by at least 1; {run.describe()}"
    )

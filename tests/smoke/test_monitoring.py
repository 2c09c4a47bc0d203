"""Can operators see the deployment? The metrics endpoint must expose the expected series, and
a canary must move the counters (a dashboard fed by frozen counters is no monitoring). When the
target names its Prometheus (``prometheus_url``), the monitoring itself is verified: the
service's scrape target is up, the canary's counters reach Prometheus, the pipeline's alert
rules are loaded, and no pipeline alert fires after the canary."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from smoke_support import PROMETHEUS_JOB, RULES_FILE, metric_total, pipeline_alerts

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
    scrape_metrics, upload_document, canary_pdf, validate_run, component_check, target
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
    unchecked = (
        ""
        if target.prometheus_url
        else (
            f"; Prometheus not checked: target {target.name!r} names no prometheus_url (scrape "
            "target, counters in Prometheus, alert rules loaded, alerts firing)"
        )
    )
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
        )
        + unchecked,
    )
    assert not frozen, (
        f"counters did not move with a completed canary: {frozen} (before, after); rule: each "
        f"grows by at least 1; {run.describe()}"
    )


# ---------------------------------------------------------------- the target's Prometheus


@pytest.mark.nondestructive
def test_prometheus_scrapes_the_service(prometheus, component_check):
    """An active target of the service's scrape job is up (last scrape succeeded)."""
    active = prometheus.get("/api/v1/targets", state="active")["activeTargets"]
    ours = [t for t in active if t.get("labels", {}).get("job") == PROMETHEUS_JOB]
    observed = [
        {k: t.get(k) for k in ("scrapeUrl", "health", "lastScrape", "lastError")} for t in ours
    ]
    up = [t for t in ours if t.get("health") == "up"]
    problem = (
        f"Prometheus at {prometheus.url} has no scrape target of job {PROMETHEUS_JOB!r} "
        f"(jobs it scrapes: {sorted({t.get('labels', {}).get('job') for t in active})})"
        if not ours
        else f"no target of job {PROMETHEUS_JOB!r} is up: {observed}"
        if not up
        else ""
    )
    component_check(
        "monitoring",
        "fail" if problem else "pass",
        observed=observed,
        rule=f"Prometheus scrapes job {PROMETHEUS_JOB!r} and its last scrape succeeded",
        message=problem
        or f"{len(up)} target(s) of job {PROMETHEUS_JOB!r} up: "
        + ", ".join(str(t["scrapeUrl"]) for t in up),
        detail="prometheus-target",
    )
    assert not problem, problem


@pytest.mark.nondestructive
def test_the_pipeline_alert_rules_are_loaded(prometheus, component_check):
    """Every alert of monitoring/prometheus/rules.yml labelled pipeline=docservice is loaded,
    and none fails to evaluate."""
    expected = pipeline_alerts()
    assert expected, f"no pipeline alert found in {RULES_FILE}"
    groups = prometheus.get("/api/v1/rules", type="alert")["groups"]
    loaded = {r["name"]: r for g in groups for r in g["rules"]}
    missing = [name for name in expected if name not in loaded]
    broken = {
        name: loaded[name].get("lastError")
        for name in expected
        if name in loaded and loaded[name].get("health") == "err"
    }
    problem = "; ".join(
        part
        for part in (
            f"alert rules not loaded: {missing}" if missing else "",
            f"alert rules failing to evaluate: {broken}" if broken else "",
        )
        if part
    )
    component_check(
        "monitoring",
        "fail" if problem else "pass",
        observed={"expected": len(expected), "loaded": sorted(set(loaded) & set(expected))},
        rule=f"Prometheus has loaded every pipeline alert of {RULES_FILE.name} and evaluates them",
        message=problem or f"all {len(expected)} pipeline alert rules loaded",
        detail="prometheus-rules",
    )
    assert not problem, f"{problem} (Prometheus at {prometheus.url}; rules in {RULES_FILE})"


def _epoch(text: str) -> float:
    # Prometheus writes nanoseconds; fromisoformat takes at most microseconds
    head, _, frac = str(text).rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00").timestamp()


@pytest.mark.canary
def test_the_canary_reaches_prometheus_and_no_alert_fires(
    prometheus, upload_document, canary_pdf, validate_run, component_check, budgets
):
    """The canary's jobs_completed increment is visible in Prometheus within the budget, and
    once the rules have been evaluated on it, no pipeline alert is firing."""
    query = f'sum(docservice_jobs_completed_total{{job="{PROMETHEUS_JOB}"}})'
    before = prometheus.value(query)
    run = validate_run(upload_document(canary_pdf("small.pdf")))
    run.raise_for_outcome()
    started = time.monotonic()
    after = before
    while time.monotonic() - started < budgets.prometheus_s:
        after = prometheus.value(query)
        if after is not None and after >= (before or 0) + 1:
            break
        time.sleep(0.5)
    took = time.monotonic() - started
    arrived = after is not None and after >= (before or 0) + 1
    component_check(
        "monitoring",
        "pass" if arrived else "fail",
        observed={"query": query, "before": before, "after": after, "waited_s": round(took, 1)},
        rule=f"the canary's completed job reaches Prometheus within {budgets.prometheus_s:g} s",
        message=(
            f"{query} {before} -> {after} {took:.1f} s after canary {run.correlation_id} completed"
            if arrived
            else f"{query} still {after} (was {before}) {took:.1f} s after canary "
            f"{run.correlation_id} completed: Prometheus does not see the deployment's counters"
        ),
        detail="prometheus-counters",
    )

    # the rules must have been evaluated on the data that includes the canary (checked even
    # when the counters did not arrive: both failures are evidence)
    seen_at = time.time()
    while True:
        groups = prometheus.get("/api/v1/rules", type="alert")["groups"]
        evaluated = min((_epoch(g["lastEvaluation"]) for g in groups), default=0.0)
        if evaluated > seen_at or time.monotonic() - started > budgets.prometheus_s:
            break
        time.sleep(0.5)
    names = set(pipeline_alerts())
    alerts = [
        a
        for a in prometheus.get("/api/v1/alerts")["alerts"]
        if a["labels"].get("alertname") in names or a["labels"].get("pipeline") == "docservice"
    ]
    firing = [a["labels"] for a in alerts if a["state"] == "firing"]
    pending = [a["labels"] for a in alerts if a["state"] == "pending"]
    component_check(
        "monitoring",
        "fail" if firing else "pass",
        observed={"firing": firing, "pending": pending},
        rule="no pipeline alert is firing after the canary",
        message=(
            f"pipeline alerts firing: {firing}"
            if firing
            else "no pipeline alert firing"
            + (f" ({len(pending)} pending: {pending})" if pending else "")
        ),
        detail="prometheus-alerts",
    )
    problems = [
        f"{query} did not grow within {budgets.prometheus_s:g} s of canary "
        f"{run.correlation_id} completing ({before} -> {after}); rule: it grows by at least 1"
        if not arrived
        else "",
        f"pipeline alerts firing after canary {run.correlation_id}: {firing}" if firing else "",
    ]
    problems = [p for p in problems if p]
    assert not problems, "; ".join(problems) + f"; {run.describe()}"

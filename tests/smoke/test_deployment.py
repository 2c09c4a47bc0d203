"""Is the whole deployment there? Health, worker, real external services, version and config.

The origin system's deployment answered its health check while its worker never ran and its
"parser" was a mock. So health is necessary but never sufficient here: the worker is proven by
a canary passing the statuses only a worker produces, and the external services by the
identity their outputs carry.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from smoke_support import SCHEMAS, WORKER_ONLY, parse_ts


@pytest.mark.nondestructive
@pytest.mark.critical
def test_health_within_budget_and_every_dependency_up(api, json_schema, budgets, component_check):
    """GET /health: 200 within the budget, status healthy, every dependency it lists up.

    Reports the API and the database to the report's completeness table (the worker, parser
    and embeddings are judged by what a canary proves, not by what health claims).
    """
    started = time.perf_counter()
    response = api.get("/health")
    elapsed = time.perf_counter() - started
    json_schema.validate(response, schema=f"{SCHEMAS}/health.schema.json")
    body = response.json()
    now = datetime.now(timezone.utc)
    down = {name: dep for name, dep in body["dependencies"].items() if dep.get("status") != "up"}
    component_check(
        "api",
        "pass" if elapsed <= budgets.health_s else "fail",
        observed={"http_status": response.status_code, "seconds": round(elapsed, 4)},
        rule=f"answers GET /health within {budgets.health_s:g} s",
        message=f"GET /health answered {response.status_code} in {elapsed:.3f} s",
    )
    database = body["dependencies"].get("database") or {}
    component_check(
        "database",
        "pass" if database.get("status") == "up" else "fail",
        observed=database,
        rule="health reports the database up",
        message=f"database {database.get('status')!r} per /health",
    )
    assert response.status_code == 200 and body["status"] == "healthy" and not down, (
        f"health: HTTP {response.status_code}, status {body['status']!r}, dependencies down: "
        f"{down or 'none'}; rule: 200 'healthy' with every dependency 'up' "
        f"(correlation ID {api.correlation_id})"
    )
    assert elapsed <= budgets.health_s, (
        f"health answered in {elapsed:.3f} s; rule: within {budgets.health_s:g} s "
        f"(SMOKE_HEALTH_BUDGET_S) (correlation ID {api.correlation_id})"
    )
    checked = parse_ts(body["checked_at"])
    skew = budgets.clock_skew_s + elapsed
    assert checked is not None and abs((now - checked).total_seconds()) <= skew, (
        f"health checked_at {body['checked_at']!r} while the test's clock read "
        f"{now.isoformat()}; rule: within {budgets.clock_skew_s:g} s (SMOKE_CLOCK_SKEW_S): a "
        f"health answer from another time is a cached or replayed one (correlation ID "
        f"{api.correlation_id})"
    )


@pytest.mark.nondestructive
@pytest.mark.critical
def test_version_and_config_fingerprint_match_baseline(api, json_schema, baseline):
    """GET /version: service, version, schema version and configuration fingerprint are what
    the baseline was recorded with (the git revision may differ between builds)."""
    response = api.get("/version")
    assert response.status_code == 200, (
        f"GET /version answered {response.status_code}; rule: 200 "
        f"(correlation ID {api.correlation_id})"
    )
    json_schema.validate(response, schema=f"{SCHEMAS}/version.schema.json")
    body = response.json()
    baseline.check(
        "version",
        {
            "service": body["service"],
            "version": body["version"],
            "schema_version": body["schema_version"],
        },
    )
    baseline.check(
        "config_fingerprint",
        {
            "config_fingerprint": body["config_fingerprint"],
            "fingerprint_sha256": body["fingerprint_sha256"],
        },
    )


@pytest.mark.canary
@pytest.mark.critical
def test_worker_moves_a_canary_past_the_worker_only_statuses(
    upload_document, canary_pdf, budgets, validate_run, component_check
):
    """A canary reaches every status only a running worker can write, within the budget.

    The heartbeat alone is not proof: the origin system's worker was "initialized" and never
    processed a job.
    """
    run = validate_run(upload_document(canary_pdf("small.pdf"), deadline=budgets.worker_s))
    reached = [s for s in WORKER_ONLY if s in run.status_sequence]
    missing = [s for s in WORKER_ONLY if s not in run.status_sequence]
    component_check(
        "worker",
        "fail" if missing else "pass",
        observed={"reached": reached, "final_status": run.final_status, "outcome": run.outcome},
        rule=f"a canary passes {', '.join(WORKER_ONLY)} within {budgets.worker_s:g} s",
        message=(
            f"canary reached {', '.join(reached) or 'no worker-only status'}; ended "
            f"{run.outcome!r} at {run.final_status!r} (job {run.job_id}, correlation ID "
            f"{run.correlation_id})"
        ),
    )
    assert not missing, (
        f"the worker did not process the canary within {budgets.worker_s:g} s: statuses never "
        f"reached: {', '.join(missing)} (reached {', '.join(reached) or 'none of them'}); "
        f"{run.describe()}"
    )
    run.raise_for_outcome()


@pytest.mark.canary
@pytest.mark.critical
def test_parser_and_embeddings_are_real_and_match_baseline(
    upload_document,
    canary_pdf,
    baseline,
    api,
    json_schema,
    validate_run,
    component_check,
    smoke_env,
):
    """The canary's outputs carry the identity of the services that produced them: parser
    name and version, chunker, embedding model and dimensions. They must match the baseline,
    and no identity may be a test double's: a mock's anywhere, a stand-in's on a protected
    environment (which identities count is per environment, tests/smoke/environments.toml)."""
    run = validate_run(upload_document(canary_pdf("small.pdf")))
    stage_owner = {"failed_parse": "parser", "failed_embedding": "embeddings"}
    if run.final_status in stage_owner:
        component_check(
            stage_owner[run.final_status],
            "fail",
            observed=run.last_error,
            rule="the canary's stage that calls this service succeeds",
            message=run.describe(),
        )
    run.raise_for_outcome()
    document = api.get(f"/api/v2/documents/{run.document_id}")
    json_schema.validate(document, schema=f"{SCHEMAS}/document.schema.json")
    doc = document.json()
    identity = {
        "parser": doc["parser"],
        "chunker": doc["chunker"],
        "embedding": doc["embedding"],
    }
    names = {
        "parser": str((doc["parser"] or {}).get("name")),
        "chunker": str((doc["chunker"] or {}).get("name")),
        "embeddings": str((doc["embedding"] or {}).get("model")),
    }
    doubles = {
        part: f"{name} (contains {marker!r})"
        for part, name in names.items()
        if (marker := smoke_env.test_double(name))
    }
    try:
        assert not doubles, (
            f"the deployment is wired to test doubles: {doubles} (observed {identity}); "
            f"rule: {smoke_env.rule()}; {run.describe()}"
        )
        baseline.check("service_identity", identity)
    except AssertionError as exc:
        for part, key in (("parser", "parser"), ("embeddings", "embedding")):
            component_check(part, "fail", observed=identity[key], message=str(exc)[:500])
        raise
    for part, key in (("parser", "parser"), ("embeddings", "embedding")):
        component_check(
            part,
            "pass",
            observed=identity[key],
            rule="real (no mock identity) and the baseline's identity",
            message=f"{part} identity {identity[key]} matches the baseline",
        )

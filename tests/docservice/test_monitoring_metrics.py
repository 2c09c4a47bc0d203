"""The /metrics series monitoring/ is built on tell a healthy deployment from each fault the
alert rules exist for: live workers, jobs and the oldest job per status, worker starts,
external-service calls by outcome (docs/monitoring.md)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from docservice_support import FIXTURES, Deployment, launch

from docservice.metrics import EXTERNAL_OUTCOMES, EXTERNAL_SERVICES
from docservice.statuses import FAILURES, STATUSES, TERMINAL

SMALL = FIXTURES / "small.pdf"
ALIVE = ("docservice_workers_alive", "")
EMBEDDINGS_OK = ("docservice_external_requests_total", 'outcome="ok",service="embeddings"')
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$", re.M)


def scrape(dep: Deployment) -> dict[tuple[str, str], float]:
    """``{(name, 'label="value",...'): value}`` of one /metrics page."""
    page = dep.get("/metrics", None)
    assert page.status_code == 200, page.text
    return {(n, labels): float(v) for n, labels, v in _SAMPLE.findall(page.text)}


def value(samples: dict[tuple[str, str], float], name: str, labels: str = "") -> float:
    assert (name, labels) in samples, f"/metrics has no {name}{{{labels}}}"
    return samples[(name, labels)]


def wait_for(dep: Deployment, check, timeout: float = 20.0) -> dict[tuple[str, str], float]:
    """Scrape until ``check(samples)`` holds (bounded); the last scrape either way."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(dep)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


def test_a_healthy_deployment_shows_live_workers_and_no_waiting_job(
    deployment: Deployment,
) -> None:
    run = deployment.run(SMALL, user="grace")
    assert run["job"]["status"] == "complete"
    samples = wait_for(
        deployment,
        lambda s: (
            s.get(EMBEDDINGS_OK, 0) >= 1
            and s.get(("docservice_jobs", 'status="complete"'), 0) >= 1
            # a heartbeat delayed past the stale limit on a loaded machine is not the question
            and s.get(ALIVE) == 2
        ),
    )
    assert value(samples, "docservice_workers_alive") == 2
    assert value(samples, "docservice_worker_starts_total") == 2
    assert value(samples, "docservice_jobs", 'status="complete"') >= 1
    for status in STATUSES:
        assert ("docservice_jobs", f'status="{status}"') in samples, status
        if status not in TERMINAL:
            assert value(samples, "docservice_job_oldest_age_seconds", f'status="{status}"') == 0
        else:
            assert ("docservice_job_oldest_age_seconds", f'status="{status}"') not in samples
    for status in FAILURES:  # created at 0 by the workers, so the first failure is an increase
        assert value(samples, "docservice_jobs_failed_total", f'status="{status}"') == 0
    for service in EXTERNAL_SERVICES:
        assert (
            value(
                samples, "docservice_external_requests_total", f'outcome="ok",service="{service}"'
            )
            >= 1
        )
        for outcome in EXTERNAL_OUTCOMES[1:]:
            assert (
                value(
                    samples,
                    "docservice_external_requests_total",
                    f'outcome="{outcome}",service="{service}"',
                )
                == 0
            )


def test_worker_down_shows_no_live_worker_and_an_aging_upload(tmp_path: Path) -> None:
    with launch(tmp_path, faults=("worker_down",)) as dep:
        assert value(scrape(dep), "docservice_workers_alive") == 0
        resp = dep.upload(SMALL)
        assert resp.status_code == 202, resp.text
        samples = wait_for(
            dep,
            lambda s: s.get(("docservice_job_oldest_age_seconds", 'status="uploaded"'), 0) > 0.5,
        )
        assert value(samples, "docservice_jobs", 'status="uploaded"') == 1
        assert value(samples, "docservice_job_oldest_age_seconds", 'status="uploaded"') > 0.5
        assert value(samples, "docservice_workers_alive") == 0
        assert value(samples, "docservice_worker_starts_total") == 0  # no worker ever started


def test_a_stalled_job_ages_in_its_status_while_the_worker_lives(tmp_path: Path) -> None:
    with launch(tmp_path, faults=("stall_at=chunks_stored",)) as dep:
        resp = dep.upload(SMALL)
        assert resp.status_code == 202, resp.text
        dep.wait(resp.json()["job_id"], until={"chunks_stored"})
        first = wait_for(
            dep,
            lambda s: s.get(("docservice_job_oldest_age_seconds", 'status="chunks_stored"'), 0) > 0,
        )
        later = wait_for(
            dep,
            lambda s: (
                s[("docservice_job_oldest_age_seconds", 'status="chunks_stored"')]
                > first[("docservice_job_oldest_age_seconds", 'status="chunks_stored"')] + 0.5
                and s.get(ALIVE) == 1
            ),
        )
        age = value(later, "docservice_job_oldest_age_seconds", 'status="chunks_stored"')
        assert (
            age > value(first, "docservice_job_oldest_age_seconds", 'status="chunks_stored"') + 0.5
        )
        assert value(later, "docservice_jobs", 'status="chunks_stored"') == 1
        assert value(later, "docservice_workers_alive") == 1  # the stall raises nothing else
        assert value(later, "docservice_job_oldest_age_seconds", 'status="parse_queued"') == 0


def test_parser_down_counts_every_refused_parser_call(tmp_path: Path) -> None:
    with launch(tmp_path, faults=("parser_down",)) as dep:
        run = dep.run(SMALL)
        assert run["job"]["status"] == "failed_parse"
        assert run["job"]["last_error"]["code"] == "parser_unreachable"
        samples = wait_for(
            dep, lambda s: s.get(("docservice_jobs_failed_total", 'status="failed_parse"'), 0) >= 1
        )
        # the first try and DOCSERVICE_MAX_RETRIES (3) retries, each refused
        assert (
            value(
                samples,
                "docservice_external_requests_total",
                'outcome="unreachable",service="parser"',
            )
            == 4
        )
        assert (
            value(samples, "docservice_external_requests_total", 'outcome="ok",service="parser"')
            == 0
        )
        assert value(samples, "docservice_jobs_failed_total", 'status="failed_parse"') == 1
        health = dep.get("/health", None)
        assert health.status_code == 503
        assert health.json()["dependencies"]["parser"]["status"] == "down"

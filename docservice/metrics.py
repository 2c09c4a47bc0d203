"""Prometheus metrics shared by the API and worker processes.

Counters and the stage histogram are written by whichever process does the work; with
``PROMETHEUS_MULTIPROC_DIR`` set (the CLI sets it to ``<data dir>/metrics`` before
prometheus_client is imported) the API's /metrics aggregates every process. Gauges that
describe the whole deployment (queue depth, heartbeat age, live workers, jobs and the oldest
job per status) are read from the database at scrape time, so they can never disagree with
/health. monitoring/prometheus/rules.yml and the dashboards query these names
(docs/monitoring.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from docservice.statuses import FAILURES, STATUSES, TERMINAL, WORKER_STATUSES

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass
class Metrics:
    """The metric objects one process updates (not registered globally)."""

    uploads: Any
    jobs_completed: Any
    jobs_failed: Any
    stage_duration: Any
    http_requests: Any
    worker_starts: Any
    external_requests: Any


#: services a worker calls, and how each call ended (``docservice_external_requests_total``)
EXTERNAL_SERVICES = ("parser", "embeddings")
EXTERNAL_OUTCOMES = ("ok", "unreachable", "http_4xx", "http_5xx", "bad_response", "job_error")


def create_metrics() -> Metrics:
    """Fresh metric objects; in multiprocess mode their values land in the shared dir."""
    from prometheus_client import Counter, Histogram

    return Metrics(
        uploads=Counter("docservice_uploads", "Uploads accepted", ["result"], registry=None),
        jobs_completed=Counter("docservice_jobs_completed", "Jobs completed", registry=None),
        jobs_failed=Counter("docservice_jobs_failed", "Jobs failed", ["status"], registry=None),
        stage_duration=Histogram(
            "docservice_stage_duration_seconds",
            "Time a pipeline stage took",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=None,
        ),
        http_requests=Counter(
            "docservice_http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=None,
        ),
        worker_starts=Counter(
            "docservice_worker_starts",
            "Worker processes started (restarts included)",
            registry=None,
        ),
        external_requests=Counter(
            "docservice_external_requests",
            "Calls to the parser and embeddings services by outcome",
            ["service", "outcome"],
            registry=None,
        ),
    )


def init_worker_series(metrics: Metrics) -> None:
    """Create every labelled worker series at 0, so ``increase()`` sees a failure or an
    external error from the first one on (a series born at 1 counts as no increase)."""
    for status in FAILURES:
        metrics.jobs_failed.labels(status)
    for stage in WORKER_STATUSES:
        metrics.stage_duration.labels(stage)
    for service in EXTERNAL_SERVICES:
        for outcome in EXTERNAL_OUTCOMES:
            metrics.external_requests.labels(service, outcome)


@dataclass(frozen=True)
class JobStats:
    """What the jobs and heartbeat tables say at scrape time."""

    #: status -> (jobs in it, age in s of the longest-waiting one; 0 when none)
    by_status: dict[str, tuple[int, float]]
    #: workers whose heartbeat is fresher than the stale limit
    workers_alive: int


def read_job_stats(tx: Any, now: Any, stale_s: float) -> JobStats:
    """Jobs per status with the oldest one's time in it (``updated_at`` is written with every
    status change), and the number of live workers, from one read transaction."""
    from docservice.clock import parse_iso

    by_status = {status: (0, 0.0) for status in STATUSES}
    for row in tx.all(
        "SELECT status, COUNT(*) AS n, MIN(updated_at) AS oldest FROM jobs GROUP BY status"
    ):
        age = 0.0
        if row["status"] not in TERMINAL and row["oldest"]:
            age = max(0.0, (now - parse_iso(row["oldest"])).total_seconds())
        by_status[row["status"]] = (int(row["n"]), age)
    beats = [row["beat_at"] for row in tx.all("SELECT beat_at FROM worker_heartbeats")]
    alive = sum(1 for b in beats if (now - parse_iso(b)).total_seconds() <= stale_s)
    return JobStats(by_status, alive)


class DeploymentCollector:
    """Scrape-time gauges from the database: queue depth, worker heartbeat age and, given
    ``jobs``, live workers and jobs per status with the oldest one's age."""

    def __init__(
        self,
        read: Callable[[], tuple[int, float | None]],
        jobs: Callable[[], JobStats] | None = None,
    ) -> None:
        self._read = read
        self._jobs = jobs

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        depth, age = self._read()
        yield GaugeMetricFamily("docservice_queue_depth", "Jobs waiting for a worker", value=depth)
        yield GaugeMetricFamily(
            "docservice_worker_heartbeat_age_seconds",
            "Age of the freshest worker heartbeat (NaN when no worker ever beat)",
            value=float("nan") if age is None else age,
        )
        if self._jobs is None:
            return
        stats = self._jobs()
        yield GaugeMetricFamily(
            "docservice_workers_alive",
            "Workers whose heartbeat is fresher than DOCSERVICE_HEARTBEAT_STALE_S",
            value=stats.workers_alive,
        )
        jobs = GaugeMetricFamily("docservice_jobs", "Jobs by current status", labels=["status"])
        oldest = GaugeMetricFamily(
            "docservice_job_oldest_age_seconds",
            "Time the longest-waiting job has been in its status (0 when none; non-terminal)",
            labels=["status"],
        )
        for status, (count, age) in stats.by_status.items():
            jobs.add_metric([status], count)
            if status not in TERMINAL:
                oldest.add_metric([status], age)
        yield jobs
        yield oldest


class FrozenCollector:
    """Fault ``metrics_frozen``: the exporter is wired to a registry nobody writes to.

    Every series the live metrics would show is there (so a "series present" check passes),
    each at its start value, forever: what a dashboard sees when the exporter reads a stale
    registry or multiprocess directory while the processes count elsewhere.
    """

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        uploads = CounterMetricFamily("docservice_uploads", "Uploads accepted", labels=["result"])
        for result in ("accepted", "duplicate"):
            uploads.add_metric([result], 0.0)
        yield uploads
        yield CounterMetricFamily("docservice_jobs_completed", "Jobs completed", value=0.0)
        failed = CounterMetricFamily("docservice_jobs_failed", "Jobs failed", labels=["status"])
        for status in FAILURES:
            failed.add_metric([status], 0.0)
        yield failed
        stages = HistogramMetricFamily(
            "docservice_stage_duration_seconds", "Time a pipeline stage took", labels=["stage"]
        )
        for stage in WORKER_STATUSES:
            buckets = [(str(float(b)), 0.0) for b in STAGE_BUCKETS] + [("+Inf", 0.0)]
            stages.add_metric([stage], buckets, sum_value=0.0)
        yield stages
        requests = CounterMetricFamily(
            "docservice_http_requests", "HTTP requests served", labels=["method", "route", "status"]
        )
        requests.add_metric(["GET", "/metrics", "200"], 0.0)
        yield requests
        yield CounterMetricFamily(
            "docservice_worker_starts", "Worker processes started (restarts included)", value=0.0
        )
        external = CounterMetricFamily(
            "docservice_external_requests",
            "Calls to the parser and embeddings services by outcome",
            labels=["service", "outcome"],
        )
        for service in EXTERNAL_SERVICES:
            for outcome in EXTERNAL_OUTCOMES:
                external.add_metric([service, outcome], 0.0)
        yield external


def render(
    metrics: Metrics, deployment: DeploymentCollector, frozen: bool = False
) -> tuple[bytes, str]:
    """Prometheus text exposition of every process's metrics plus the deployment gauges
    (with ``frozen``, the metrics_frozen fault: stale counters, live gauges)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    if frozen:
        registry.register(FrozenCollector())
    elif os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(registry)
    else:
        for metric in vars(metrics).values():
            registry.register(metric)
    registry.register(deployment)
    return generate_latest(registry), CONTENT_TYPE_LATEST

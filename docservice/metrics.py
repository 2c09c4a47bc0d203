"""Prometheus metrics shared by the API and worker processes.

Counters and the stage histogram are written by whichever process does the work; with
``PROMETHEUS_MULTIPROC_DIR`` set (the CLI sets it to ``<data dir>/metrics`` before
prometheus_client is imported) the API's /metrics aggregates every process. Gauges that
describe the whole deployment (queue depth, heartbeat age) are read from the database at
scrape time, so they can never disagree with /health.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass
class Metrics:
    """The metric objects one process updates (not registered globally)."""

    uploads: Any
    jobs_completed: Any
    jobs_failed: Any
    stage_duration: Any
    http_requests: Any


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
    )


class DeploymentCollector:
    """Scrape-time gauges from the database: queue depth and worker heartbeat age."""

    def __init__(self, read: Callable[[], tuple[int, float | None]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        depth, age = self._read()
        yield GaugeMetricFamily("docservice_queue_depth", "Jobs waiting for a worker", value=depth)
        yield GaugeMetricFamily(
            "docservice_worker_heartbeat_age_seconds",
            "Age of the freshest worker heartbeat (NaN when no worker ever beat)",
            value=float("nan") if age is None else age,
        )


class FrozenCollector:
    """Fault ``metrics_frozen``: the exporter is wired to a registry nobody writes to.

    Every series the live metrics would show is there (so a "series present" check passes),
    each at its start value, forever: what a dashboard sees when the exporter reads a stale
    registry or multiprocess directory while the processes count elsewhere.
    """

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        from docservice.statuses import FAILURES, WORKER_STATUSES

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

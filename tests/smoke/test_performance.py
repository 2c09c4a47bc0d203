"""Is the deployment as fast as the baseline? Samples go to the ``timings`` fixture, which
judges each timing at session end against the baseline's samples (rank test, ratio interval,
absolute floor: few or noisy samples give "inconclusive", never a false alarm).

Every timing needs at least 5 samples a side, so each test takes several: 10 health calls,
5 serial canaries (per-stage and end-to-end server timings), 5 concurrent canaries.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

HEALTH_SAMPLES = 10
SERIAL = 5
CONCURRENT = 5


@pytest.mark.perf
@pytest.mark.nondestructive
def test_health_latency(api, timings):
    """GET /health latency, judged against the baseline's samples."""
    for _ in range(HEALTH_SAMPLES):
        started = time.perf_counter()
        response = api.get("/health")
        timings.record("health.latency", time.perf_counter() - started)
        assert response.status_code in (200, 503), (
            f"GET /health answered {response.status_code} (correlation ID {api.correlation_id})"
        )


@pytest.mark.perf
@pytest.mark.canary
@pytest.mark.asyncio
async def test_throughput_serial_then_concurrent(
    upload_document_async, canary_pdf, timings, record_property
):
    """5 canaries one after another (per-stage and end-to-end timings), then 5 at once: all
    complete; seconds per document in each mode judged against the baseline, the speed-up of
    concurrency over serial recorded in the report."""
    serial_started = time.perf_counter()
    for _ in range(SERIAL):
        run = await upload_document_async(canary_pdf("small.pdf"))
        run.raise_for_outcome()
        timings.record_run(run, prefix="serial.small")
        timings.record("serial.seconds_per_document", run.client_seconds)
    serial_wall = time.perf_counter() - serial_started

    started = time.perf_counter()

    async def one() -> tuple[object, float]:
        run = await upload_document_async(canary_pdf("small.pdf"))
        return run, time.perf_counter() - started

    results = await asyncio.gather(*(one() for _ in range(CONCURRENT)))
    concurrent_wall = time.perf_counter() - started
    failed = [run.describe() for run, _ in results if run.outcome != "complete"]
    assert not failed, (
        f"{len(failed)} of {CONCURRENT} concurrent canaries did not complete; rule: all "
        f"complete; " + " | ".join(failed)
    )
    # Throughput as it builds up: after the k-th completion, elapsed / k seconds per document.
    for k, (_, done_at) in enumerate(sorted(results, key=lambda r: r[1]), start=1):
        timings.record("concurrent.seconds_per_document", done_at / k)
    speedup = (serial_wall / SERIAL) / (concurrent_wall / CONCURRENT)
    record_property("throughput_speedup_concurrent_vs_serial", round(speedup, 3))
    record_property(
        "throughput",
        {
            "serial_docs_per_s": round(SERIAL / serial_wall, 3),
            "concurrent_docs_per_s": round(CONCURRENT / concurrent_wall, 3),
            "serial_median_s": round(
                statistics.median(r for r in timings.samples["serial.seconds_per_document"]), 4
            ),
        },
    )

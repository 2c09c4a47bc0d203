"""Is the deployment as fast as the baseline? Samples go to the ``timings`` fixture, which
judges each timing at session end against the baseline's samples (rank test, ratio interval,
absolute floor: few or noisy samples give "inconclusive", never a false alarm).

Every timing needs at least 5 samples a side, so each test takes several: 10 health calls,
5 serial canaries (per-stage and end-to-end server timings), 5 concurrent canaries
(seconds per document as completions accumulate).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from smoke_support import parse_ts

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
    upload_document_async, canary_pdf, timings, record_property, validate_run
):
    """5 canaries one after another (per-stage and end-to-end timings), then 5 at once: all
    complete. Throughput in each mode comes from server timestamps (upload of the first
    document to completion of the k-th), so the client's polling does not add noise; the
    concurrent seconds per document are judged against the baseline, the speed-up over serial
    is recorded in the report."""
    serial = []
    for _ in range(SERIAL):
        run = validate_run(await upload_document_async(canary_pdf("small.pdf")))
        run.raise_for_outcome()
        timings.record_run(run, prefix="serial.small")
        serial.append(run)

    runs = await asyncio.gather(
        *(upload_document_async(canary_pdf("small.pdf")) for _ in range(CONCURRENT))
    )
    for run in runs:
        validate_run(run)
    failed = [run.describe() for run in runs if run.outcome != "complete"]
    assert not failed, (
        f"{len(failed)} of {CONCURRENT} concurrent canaries did not complete; rule: all "
        f"complete; " + " | ".join(failed)
    )
    concurrent = per_document_seconds(runs)
    for seconds in concurrent:
        timings.record("concurrent.seconds_per_document", seconds)
    serial_rate, concurrent_rate = per_document_seconds(serial)[-1], concurrent[-1]
    record_property(
        "throughput",
        {
            "serial_seconds_per_document": round(serial_rate, 4),
            "concurrent_seconds_per_document": round(concurrent_rate, 4),
            "speedup_concurrent_vs_serial": round(serial_rate / concurrent_rate, 3),
        },
    )


def per_document_seconds(runs) -> list[float]:
    """After the k-th completion: (its server completion time - first upload's) / k."""
    started = min(parse_ts(run.statuses[0].at) for run in runs)
    done = sorted(parse_ts(run.statuses[-1].at) for run in runs)
    return [(at - started).total_seconds() / k for k, at in enumerate(done, start=1)]

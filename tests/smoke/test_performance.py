"""Is the deployment as fast as its reference? Samples go to the ``timings`` fixture, which
judges each timing at session end against the reference's samples (the timing history of the
environment when ``--timing-history`` holds enough runs, else the baseline): a rank test with
group-sequential looks, Holm over the run's timings, absolute floor (few or noisy samples give
"inconclusive", never a false alarm).

The tests sample sequentially (``timings.sample``): they stop as soon as the judge has decided,
take at most ``max_samples`` (all of them when recording the baseline) and stop at a time
budget, so a slow deployment cannot stretch the run: health latency 10-40 calls within 30 s,
serial canaries 5-15 within 180 s, batches of 3 concurrent canaries 5-10 within 120 s.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from smoke_support import parse_ts

HEALTH = {"min_samples": 10, "max_samples": 40, "budget_s": 30.0}
#: what a user of the API waits for, timed client-side per route template from the canaries'
#: own requests (no extra request): upload acceptance, status poll, document fetch
USER_FACING = ("POST /api/v2/upload", "GET /api/v2/jobs/{id}", "GET /api/v2/documents/{id}")
SERIAL = {"min_samples": 5, "max_samples": 15, "budget_s": 180.0}
CONCURRENT = 3
BATCHES = {"min_samples": 5, "max_samples": 10, "budget_s": 120.0}


@pytest.mark.perf
@pytest.mark.nondestructive
def test_health_latency(api, timings):
    """GET /health latency, sampled until the judge has decided."""

    def one() -> float:
        started = time.perf_counter()
        response = api.get("/health")
        seconds = time.perf_counter() - started
        assert response.status_code in (200, 503), (
            f"GET /health answered {response.status_code} (correlation ID {api.correlation_id})"
        )
        return seconds

    timings.sample("health.latency", one, **HEALTH)


@pytest.mark.perf
@pytest.mark.canary
def test_serial_pipeline_timings(upload_document, canary_pdf, timings, validate_run):
    """Canaries one after another, each stage's server-side duration and the total recorded
    (``serial.small.<stage>``, ``.own``, ``.total``), until the judge has decided every one;
    and the latency the user sees of each canary's upload, status polls and document fetch
    (``http.<METHOD> <route>``): server-side stage times miss a slow upload API."""

    def one():
        run = validate_run(upload_document(canary_pdf("small.pdf")))
        run.raise_for_outcome()
        timings.record_requests(run.exchanges, routes=USER_FACING)
        return run

    timings.sample("serial.small", one, **SERIAL)


@pytest.mark.perf
@pytest.mark.canary
@pytest.mark.asyncio
async def test_throughput_concurrent(
    upload_document_async, canary_pdf, timings, record_property, validate_run
):
    """One canary alone, then batches of 3 at once: every canary completes. A batch's seconds
    per document come from server timestamps (upload of its first document to completion of
    its last, divided by 3), so the client's polling does not add noise; batches are sampled
    sequentially (``timings.asample``) and judged against the reference, the speed-up over
    the lone canary is recorded in the report."""
    alone = validate_run(await upload_document_async(canary_pdf("small.pdf")))
    alone.raise_for_outcome()
    rates: list[float] = []

    async def batch() -> float:
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
        rates.append(per_document_seconds(runs)[-1])
        return rates[-1]

    await timings.asample("concurrent.seconds_per_document", batch, **BATCHES)
    serial_rate, concurrent_rate = per_document_seconds([alone])[-1], min(rates)
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

"""Conversion time, judged against the baseline's (client-observed: no server timestamps)."""

import asyncio

import pytest


@pytest.mark.perf
@pytest.mark.canary
@pytest.mark.asyncio
async def test_conversion_time(upload_document_async, timings, sample_pdf):
    runs = await asyncio.gather(
        *[upload_document_async(sample_pdf, form={"to_format": "md"}) for _ in range(5)]
    )
    for run in runs:
        run.raise_for_outcome()
        timings.record_run(run, prefix="convert")

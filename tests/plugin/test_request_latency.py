"""timings.record_requests(): the client-side latency of every answered request, per route
template, taken from the test's exchanges (no extra request), against a service of another
shape (altservice); and its grouping on its own."""

from __future__ import annotations

import json

from pytest_deployverify.evidence import Exchange
from pytest_deployverify.latency import by_route

INNER = """
import json


def test_upload(upload_document, api, timings):
    run = upload_document({pdf!r})
    run.raise_for_outcome()
    assert api.get("/healthz").ok
    upload = timings.record_requests(run.exchanges, routes=["POST *"])
    every = timings.record_requests()
    again = timings.record_requests()
    print("LATENCY", json.dumps({{"upload": upload, "every": every, "again": again}}))
"""


def test_every_answered_request_is_timed_per_route(project, alt, small_pdf):
    project.alt(alt)
    project.tests(INNER.format(pdf=small_pdf))
    result = project.run("-s", "--fail-fast-errors=1")
    result.assert_outcomes(passed=1)
    line = next(ln for ln in result.stdout.lines if ln.startswith("test_inner.py LATENCY"))
    data = json.loads(line.split("LATENCY", 1)[1])
    assert list(data["upload"]) == ["POST /ingest/v1/files"]
    every = data["every"]
    # the job poll's id is replaced, as field coverage names the route
    assert "GET /ingest/v1/tasks/{id}" in every
    assert len(every["POST /ingest/v1/files"]) == 1 and len(every["GET /healthz"]) == 1
    assert all(s > 0 for samples in every.values() for s in samples)
    assert data["again"] == {}  # nothing new since the last call: nothing recorded twice


def _x(method: str, path: str, status: int | None, ms: float) -> Exchange:
    return Exchange(method=method, path=path, status=status, latency_ms=ms, correlation_id="c")


def test_unanswered_requests_have_no_latency_and_routes_filter():
    exchanges = [
        _x("get", "/api/v2/jobs/0b7c6a4e-1d1e-4f39-9d4a-3b0c1f1a2b3c?x=1", 200, 12.0),
        _x("GET", "/api/v2/jobs/5d2e6a4e-1d1e-4f39-9d4a-3b0c1f1a2b3c", None, 15000.0),
        _x("POST", "/api/v2/upload", 202, 250.0),
    ]
    assert by_route(exchanges) == {
        "GET /api/v2/jobs/{id}": [0.012],
        "POST /api/v2/upload": [0.25],
    }
    assert by_route(exchanges, ["GET *"]) == {"GET /api/v2/jobs/{id}": [0.012]}

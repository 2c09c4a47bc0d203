"""Every fault switch changes observable behaviour the way docs/docservice.md claims.

Each test launches a small deployment with one fault; the healthy counterpart of each
assertion is in test_pipeline.py (same checks, fault absent, opposite outcome).
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
from docservice_support import FIXTURES, HTTP_TIMEOUT, PG_BIN, PIPELINE, Deployment, launch

SMALL = FIXTURES / "small.pdf"
MEDIUM = FIXTURES / "medium.pdf"
QUIET_S = 1.5  # a healthy small document completes well within this (~0.3 s)


def parse(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def upload_ok(dep: Deployment, path: Path = SMALL, user: str = "alice", **kw: object) -> dict:
    resp = dep.upload(path, user=user, **kw)
    assert resp.status_code == 202, resp.text
    return resp.json()


def test_worker_down_leaves_jobs_uploaded_and_health_503(tmp_path: Path) -> None:
    with launch(tmp_path, faults=("worker_down",)) as dep:
        assert dep.ready["workers"] == 0 and dep.ready["pids"]["workers"] == []
        body = upload_ok(dep)
        time.sleep(QUIET_S)
        assert [e["status"] for e in dep.events(body["job_id"])] == ["uploaded"]
        health = dep.get("/health", None)
        assert health.status_code == 503
        worker = health.json()["dependencies"]["worker"]
        assert health.json()["status"] == "degraded"
        assert worker["status"] == "down" and worker["workers"] == 0
        assert worker["heartbeat_age_s"] is None
        assert health.json()["dependencies"]["queue"]["depth"] >= 1
        # The API itself still answers like a healthy one: the trap the fault reproduces.
        assert dep.get("/version", None).status_code == 200


def test_parser_mock_is_recorded_as_parser_identity(tmp_path: Path) -> None:
    with launch(tmp_path, faults=("parser_mock",)) as dep:
        first = dep.run(SMALL)
        assert first["job"]["status"] == "complete"
        assert first["document"]["parser"]["name"] == "mock-llamaparse"
        dep.http.delete(
            f"{dep.api}/api/v2/documents/{first['upload']['document_id']}",
            headers={"Authorization": "Bearer tok-alice"},
            timeout=HTTP_TIMEOUT,
        )
        second = dep.run(SMALL)
        # The mock's content is not deterministic, so neither are the outputs.
        assert second["document"]["parsed_text_sha256"] != first["document"]["parsed_text_sha256"]


def test_schema_drift_fails_chunking_after_retries(tmp_path: Path) -> None:
    with launch(tmp_path, faults=("schema_drift",)) as dep:
        assert dep.get("/version", None).json()["schema_version"] == 1
        run = dep.run(SMALL)
        statuses = [e["status"] for e in run["events"]]
        assert statuses == [*PIPELINE[: PIPELINE.index("chunking") + 1], "failed_chunking"]
        job = run["job"]
        assert job["status"] == "failed_chunking"
        assert job["retry_count"] == 3
        assert job["last_error"]["code"] == "database_error"
        assert run["document"]["chunk_count"] == 0
        assert dep.get("/health", None).status_code == 200  # looks healthy


@pytest.mark.parametrize("status", ["parse_queued", "chunks_stored"])
def test_stall_at_stops_silently_while_heartbeat_continues(tmp_path: Path, status: str) -> None:
    with launch(tmp_path, faults=(f"stall_at={status}",)) as dep:
        body = upload_ok(dep)
        dep.wait(body["job_id"], until={status}, timeout=15)
        time.sleep(QUIET_S)
        events = dep.events(body["job_id"])
        assert events[-1]["status"] == status
        assert [e["status"] for e in events] == PIPELINE[: PIPELINE.index(status) + 1]
        job = dep.get(f"/api/v2/jobs/{body['job_id']}").json()
        assert job["status"] == status and job["last_error"] is None
        health = dep.get("/health", None)
        assert health.status_code == 200
        assert health.json()["dependencies"]["worker"]["heartbeat_age_s"] < 3


def test_vectors_not_written_while_status_completes(tmp_path: Path) -> None:
    with launch(tmp_path, faults=("vectors_not_written",)) as dep:
        run = dep.run(MEDIUM)
        assert [e["status"] for e in run["events"]] == PIPELINE
        doc, job = run["document"], run["job"]
        assert doc["chunk_count"] > 0
        assert doc["vector_count"] == 0 and doc["vectors"] == []
        assert job["progress"]["embeddings_done"] == doc["chunk_count"]  # the counter lies


def test_instant_complete_has_identical_timestamps_and_no_outputs(tmp_path: Path) -> None:
    with launch(tmp_path, faults=("instant_complete",)) as dep:
        run = dep.run(MEDIUM)
        assert [e["status"] for e in run["events"]] == PIPELINE
        assert len({e["at"] for e in run["events"]}) == 1
        assert run["job"]["created_at"] == run["job"]["updated_at"]
        doc = run["document"]
        assert doc["chunk_count"] == 0 and doc["vector_count"] == 0
        assert doc["parsed_text_sha256"] is None and doc["parser"] is None


def test_clock_skew_shifts_every_server_timestamp(tmp_path: Path) -> None:
    with launch(tmp_path, faults=("clock_skew=3600",)) as dep:
        before = datetime.now(timezone.utc)
        run = dep.run(SMALL)
        assert run["job"]["status"] == "complete"  # the pipeline itself is unaffected
        for ts in [
            run["job"]["created_at"],
            run["job"]["updated_at"],
            run["document"]["created_at"],
        ]:
            skew = (parse(ts) - before).total_seconds()
            assert 3590 < skew < 3660, ts
        assert all(3590 < (parse(e["at"]) - before).total_seconds() < 3660 for e in run["events"])
        checked = dep.get("/health", None).json()["checked_at"]
        assert 3590 < (parse(checked) - before).total_seconds() < 3660


def test_empty_status_serves_null_status(tmp_path: Path) -> None:
    with launch(tmp_path, faults=("empty_status",)) as dep:
        run = dep.run(SMALL)  # followed through the event trail, which still advances
        assert [e["status"] for e in run["events"]] == PIPELINE
        assert run["job"]["status"] is None
        assert run["document"]["status"] is None
        assert run["document"]["chunk_count"] > 0


def test_config_drift_changes_chunker_and_dimensions(tmp_path: Path) -> None:
    with launch(tmp_path, faults=("config_drift",)) as dep:
        fp = dep.get("/version", None).json()["config_fingerprint"]
        assert fp["chunker"] == "markdown-simple@2"
        assert fp["embedding_dimensions"] == 768
        run = dep.run(MEDIUM)
        doc = run["document"]
        assert run["job"]["status"] == "complete"
        assert doc["chunker"] == {"name": "markdown-simple", "version": "2"}
        assert doc["embedding"]["dimensions"] == 768
        ns = uuid.UUID("6c8a1e6e-1f0b-4aa8-9f0a-1a7c2e6f2b42")
        first = str(uuid.uuid5(ns, f"{doc['document_id']}:markdown-simple:2:0"))
        assert doc["chunks"][0]["chunk_id"] == first


def test_webhook_unsigned_ok_accepts_unsigned_callbacks(tmp_path: Path) -> None:
    with launch(tmp_path, faults=("webhook_unsigned_ok",)) as dep:
        run = dep.run(SMALL)
        assert run["job"]["status"] == "complete"
        url = f"{dep.api}/api/v2/webhooks/llamaparse/{run['upload']['job_id']}"
        body = json.dumps({"job_id": "forged", "status": "SUCCESS", "md": "# forged"})
        unsigned = requests.post(url, data=body, timeout=HTTP_TIMEOUT)
        assert unsigned.status_code == 200  # a healthy deployment answers 401
        wrong = requests.post(
            url, data=body, headers={"X-Webhook-Signature": "0" * 64}, timeout=HTTP_TIMEOUT
        )
        assert wrong.status_code == 200


def test_health_lies_while_embedding_fails(tmp_path: Path) -> None:
    with launch(tmp_path, faults=("health_lies",)) as dep:
        run = dep.run(SMALL)
        assert run["job"]["status"] == "failed_embedding"
        assert run["job"]["last_error"]["code"] == "embeddings_unreachable"
        assert run["job"]["retry_count"] == 3
        assert run["document"]["chunk_count"] > 0 and run["document"]["vector_count"] == 0
        health = dep.get("/health", None)
        assert health.status_code == 200
        assert health.json()["status"] == "healthy"
        assert health.json()["dependencies"]["embeddings"]["status"] == "up"


def test_drop_correlation_removes_it_everywhere(tmp_path: Path) -> None:
    with launch(tmp_path, faults=("drop_correlation",)) as dep:
        cid = f"dropped-{uuid.uuid4().hex}"
        run = dep.run(SMALL, headers={"X-Correlation-ID": cid})
        assert run["job"]["status"] == "complete"
        assert "X-Correlation-ID" not in run["response"].headers
        assert run["upload"]["correlation_id"] is None
        assert run["job"]["correlation_id"] is None
        assert {e["correlation_id"] for e in run["events"]} == {None}
        for name in ("api", "worker-1", "parser", "embeddings"):
            assert cid not in dep.log_text(name), name


def test_slow_factor_stretches_every_stage(tmp_path: Path) -> None:
    factor, floor_s = 5, 0.05  # DOCSERVICE_STAGE_FLOOR_S default
    with launch(tmp_path, faults=(f"slow={factor}",)) as dep:
        run = dep.run(SMALL)
        assert run["job"]["status"] == "complete"
        stamps = [parse(e["at"]) for e in run["events"]]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
        minimum = (factor - 1) * floor_s
        assert min(gaps) >= minimum * 0.95, gaps
        assert (stamps[-1] - stamps[0]).total_seconds() >= len(gaps) * minimum * 0.95


def test_slow_upload_delays_only_the_answer(tmp_path: Path) -> None:
    delay = 0.5
    with launch(tmp_path, faults=(f"slow_upload={delay}",)) as dep:
        started = time.perf_counter()
        body = upload_ok(dep)
        answered_at = datetime.now(timezone.utc)
        assert time.perf_counter() - started >= delay  # a lower bound: load only adds to it
        events = dep.wait(body["job_id"])
        assert events[-1]["status"] == "complete"
        # stored before the delay: the server's 'uploaded' time is at least the delay before
        # the answer arrived (same host, same clock), so no server-side stage time grows
        uploaded_at = parse(events[0]["at"])
        assert (answered_at - uploaded_at).total_seconds() >= delay * 0.95


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("slow_upload", "needs a value"),
        ("slow_upload=soon", "is not a number"),
        ("slow_upload=-1", "must be 0-60 seconds"),
    ],
)
def test_slow_upload_value_is_checked(spec: str, message: str) -> None:
    from docservice.faults import FaultError, parse_faults

    assert parse_faults("slow_upload=0.5").slow_upload_s == 0.5
    with pytest.raises(FaultError, match=message):
        parse_faults(spec)


PG_MISSING = not (PG_BIN / "postgres").exists()


@pytest.mark.parametrize(
    ("fault", "database"),
    [
        (None, "sqlite"),
        ("dedup_broken", "sqlite"),
        pytest.param(
            "dedup_broken",
            "postgres",
            marks=pytest.mark.skipif(PG_MISSING, reason=f"no PostgreSQL binaries in {PG_BIN}"),
        ),
    ],
    ids=["healthy", "dedup_broken", "dedup_broken-postgres"],
)
def test_dedup_broken_gives_the_same_bytes_a_new_document(
    tmp_path: Path, fault: str | None, database: str
) -> None:
    """Healthy: identical bytes again answer 200, duplicate, the same ids. dedup_broken: 202
    and a new document each time, processed like any other (nothing else looks wrong)."""
    with launch(tmp_path, faults=(fault,) if fault else (), database=database) as dep:
        first = dep.run(SMALL)
        assert first["job"]["status"] == "complete"
        again = dep.upload(SMALL)
        if fault is None:
            assert again.status_code == 200, again.text
            assert again.json()["duplicate"] is True
            assert again.json()["document_id"] == first["upload"]["document_id"]
            assert again.json()["job_id"] == first["upload"]["job_id"]
            return
        assert again.status_code == 202, again.text
        second = again.json()
        assert second["duplicate"] is False and second["status"] == "uploaded"
        assert second["document_id"] != first["upload"]["document_id"]
        assert second["job_id"] != first["upload"]["job_id"]
        third = upload_ok(dep)
        assert third["document_id"] not in (first["upload"]["document_id"], second["document_id"])
        assert dep.wait(second["job_id"])[-1]["status"] == "complete"
        doc = dep.get(f"/api/v2/documents/{second['document_id']}").json()
        assert doc["sha256"] == first["document"]["sha256"]  # same bytes, another document
        assert doc["chunk_count"] == first["document"]["chunk_count"] > 0
        assert dep.get("/health", None).status_code == 200


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", re.M)
#: the series the smoke suite's monitoring check requires after a canary
EXPECTED_SERIES = (
    "docservice_uploads_total",
    "docservice_jobs_completed_total",
    "docservice_stage_duration_seconds_count",
    "docservice_stage_duration_seconds_bucket",
    "docservice_queue_depth",
    "docservice_worker_heartbeat_age_seconds",
    "docservice_http_requests_total",
)


def counters(text: str) -> dict[str, float]:
    """The three counters a canary must move, from a /metrics page."""
    out = {"uploads_accepted": 0.0, "jobs_completed": 0.0, "stage_observations": 0.0}
    for name, labels, value in _SAMPLE.findall(text):
        if name == "docservice_uploads_total" and 'result="accepted"' in labels:
            out["uploads_accepted"] += float(value)
        elif name == "docservice_jobs_completed_total":
            out["jobs_completed"] += float(value)
        elif name == "docservice_stage_duration_seconds_count":
            out["stage_observations"] += float(value)
    return out


@pytest.mark.parametrize("fault", [None, "metrics_frozen"], ids=["healthy", "metrics_frozen"])
def test_metrics_frozen_serves_every_series_but_never_moves(
    tmp_path: Path, fault: str | None
) -> None:
    """Healthy: a completed document moves uploads, jobs_completed and the stage histogram.
    metrics_frozen: /metrics answers 200 with every series, the counters stay where they
    were while the deployment gauges (read from the database) stay live."""
    with launch(tmp_path, faults=(fault,) if fault else ()) as dep:
        before = counters(dep.get("/metrics", None).text)
        run = dep.run(SMALL)
        assert run["job"]["status"] == "complete"
        # The worker counts a job just after committing 'complete': poll briefly for it.
        deadline = time.monotonic() + (0.3 if fault else 5.0)
        while True:
            page = dep.get("/metrics", None)
            after = counters(page.text)
            if time.monotonic() > deadline or (
                not fault and all(after[k] >= before[k] + 1 for k in after)
            ):
                break
            time.sleep(0.05)
        assert page.status_code == 200
        present = {name for name, _, _ in _SAMPLE.findall(page.text)}
        assert set(EXPECTED_SERIES) <= present, set(EXPECTED_SERIES) - present
        if fault is None:
            assert all(after[k] >= before[k] + 1 for k in after), (before, after)
            return
        assert after == before, (before, after)
        heartbeat = re.search(r"^docservice_worker_heartbeat_age_seconds (\S+)$", page.text, re.M)
        assert heartbeat and 0 <= float(heartbeat.group(1)) < 5  # a live gauge, not NaN
        assert dep.get("/health", None).status_code == 200

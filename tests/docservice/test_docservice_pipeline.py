"""The healthy pipeline on SQLite with 2 workers: every status in order, real outputs,
determinism, deduplication, correlation, auth, webhook signatures, health/version/metrics."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
import requests
from docservice_support import FIXTURES, HTTP_TIMEOUT, PIPELINE, Deployment

from docservice.db import LATEST_SCHEMA

HEX64 = re.compile(r"^[0-9a-f]{64}$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def assert_complete(run: dict, correlation_id: str | None = None) -> None:
    """The completion invariants a verifier holds a deployment to."""
    statuses = [e["status"] for e in run["events"]]
    assert statuses == PIPELINE
    assert [e["seq"] for e in run["events"]] == list(range(1, len(PIPELINE) + 1))
    stamps = [e["at"] for e in run["events"]]
    assert all(ISO.match(t) for t in stamps)
    assert stamps == sorted(stamps)
    assert len(set(stamps)) > 1  # real work takes time
    job, doc = run["job"], run["document"]
    assert job["status"] == "complete" and job["last_error"] is None
    assert doc["chunk_count"] > 0
    assert doc["vector_count"] == doc["chunk_count"] == len(doc["chunks"]) == len(doc["vectors"])
    assert job["progress"] == {
        "chunks_total": doc["chunk_count"],
        "chunks_done": doc["chunk_count"],
        "embeddings_done": doc["chunk_count"],
    }
    assert [v["chunk_id"] for v in doc["vectors"]] == [c["chunk_id"] for c in doc["chunks"]]
    # the model the embeddings service says it served: the stand-in marks itself
    assert doc["embedding"] == {"model": "text-embedding-3-small-standin", "dimensions": 1536}
    assert doc["chunker"] == {"name": "markdown-simple", "version": "1"}
    assert doc["parser"]["name"] == "llamaparse-standin"
    assert HEX64.match(doc["parsed_text_sha256"])
    for c in doc["chunks"]:
        ns = uuid.UUID("6c8a1e6e-1f0b-4aa8-9f0a-1a7c2e6f2b42")
        key = f"{doc['document_id']}:markdown-simple:1:{c['ordinal']}"
        assert c["chunk_id"] == str(uuid.uuid5(ns, key))
    if correlation_id:
        assert run["upload"]["correlation_id"] == correlation_id == job["correlation_id"]
        assert {e["correlation_id"] for e in run["events"]} == {correlation_id}


@pytest.mark.parametrize("name", ["small.pdf", "medium.pdf", "large.pdf"])
def test_fixture_pdf_goes_through_every_status_to_complete(
    deployment: Deployment, name: str
) -> None:
    cid = f"pipeline-{name}-{uuid.uuid4().hex[:8]}"
    run = deployment.run(FIXTURES / name, user="alice", headers={"X-Correlation-ID": cid})
    assert run["response"].headers["X-Correlation-ID"] == cid
    assert_complete(run, cid)
    meta = {
        d["name"]: d for d in json.loads((FIXTURES / "documents.json").read_text())["documents"]
    }
    assert run["document"]["sha256"] == meta[name]["sha256"]
    ns = uuid.UUID("6c8a1e6e-1f0b-4aa8-9f0a-1a7c2e6f2b42")
    assert run["document"]["document_id"] == str(uuid.uuid5(ns, f"alice:{meta[name]['sha256']}"))
    assert run["document"]["bytes"] == meta[name]["bytes"]


def test_multi_page_document_has_more_chunks(deployment: Deployment) -> None:
    small = deployment.run(FIXTURES / "small.pdf", user="bob")
    large = deployment.run(FIXTURES / "large.pdf", user="bob")
    assert large["document"]["chunk_count"] > small["document"]["chunk_count"] > 0


def test_same_document_twice_gives_identical_digests(deployment: Deployment) -> None:
    first = deployment.run(FIXTURES / "medium.pdf", user="carol")
    doc_id = first["document"]["document_id"]
    resp = deployment.http.delete(
        f"{deployment.api}/api/v2/documents/{doc_id}",
        headers={"Authorization": "Bearer tok-carol"},
        timeout=HTTP_TIMEOUT,
    )
    assert resp.status_code == 204
    assert deployment.get(f"/api/v2/documents/{doc_id}", "carol").status_code == 404
    assert deployment.get(f"/api/v2/jobs/{first['upload']['job_id']}", "carol").status_code == 404
    second = deployment.run(FIXTURES / "medium.pdf", user="carol")
    assert second["upload"]["job_id"] != first["upload"]["job_id"]
    a, b = first["document"], second["document"]
    assert b["document_id"] == a["document_id"]  # UUIDv5 of user:sha256
    for key in ("parsed_text_sha256", "chunks", "vectors", "chunk_count", "embedding"):
        assert a[key] == b[key], key
    assert len({v["sha256"] for v in a["vectors"]}) == len(a["vectors"])  # text-dependent


def test_duplicate_upload_returns_existing_ids(deployment: Deployment) -> None:
    first = deployment.upload(FIXTURES / "small.pdf", user="dave")
    assert first.status_code == 202
    again = deployment.upload(FIXTURES / "small.pdf", user="dave")
    assert again.status_code == 200
    body = again.json()
    assert body["duplicate"] is True
    assert (body["document_id"], body["job_id"]) == (
        first.json()["document_id"],
        first.json()["job_id"],
    )
    assert body["status"] in PIPELINE
    other_user = deployment.upload(FIXTURES / "small.pdf", user="erin")
    assert other_user.status_code == 202
    assert other_user.json()["document_id"] != body["document_id"]
    deployment.wait(first.json()["job_id"], "dave")
    deployment.wait(other_user.json()["job_id"], "erin")


def test_concurrent_jobs_with_two_workers_each_advance_once(deployment: Deployment) -> None:
    jobs = []
    for user in ("frank", "erin"):
        for name in ("small.pdf", "medium.pdf", "large.pdf"):
            if (user, name) == ("erin", "small.pdf"):
                continue  # erin's small.pdf belongs to the duplicate test
            resp = deployment.upload(FIXTURES / name, user=user)
            assert resp.status_code == 202, resp.text
            jobs.append((resp.json()["job_id"], user))
    for job_id, user in jobs:
        # Exactly one event per status: no job advanced twice by competing workers.
        assert [e["status"] for e in deployment.wait(job_id, user)] == PIPELINE
    health = deployment.get("/health", None).json()
    assert health["dependencies"]["worker"]["workers"] == 2
    claimed_by = set()
    for n in (1, 2):
        for line in deployment.log_text(f"worker-{n}").splitlines():
            rec = json.loads(line)
            if rec.get("msg") == "claimed":
                claimed_by.add(n)
    assert claimed_by == {1, 2}, "both workers should have claimed work"


def test_correlation_id_reaches_worker_parser_embeddings_and_logs(deployment: Deployment) -> None:
    cid = f"corr-{uuid.uuid4().hex}"
    run = deployment.run(FIXTURES / "small.pdf", user="grace", headers={"X-Correlation-ID": cid})
    assert_complete(run, cid)
    for name in ("api", "worker-1", "worker-2", "parser", "embeddings"):
        text = deployment.log_text(name)
        lines = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
        assert lines, f"{name} wrote no JSON log lines"
        assert all("correlation_id" in rec for rec in lines), name
    seen = {
        n
        for n in ("api", "worker-1", "worker-2", "parser", "embeddings")
        if cid in deployment.log_text(n)
    }
    assert {"api", "parser", "embeddings"} <= seen
    assert seen & {"worker-1", "worker-2"}
    # The webhook the parser sent back carried the same ID into the API.
    webhook_lines = [
        json.loads(x) for x in deployment.log_text("api").splitlines() if '"msg":"webhook"' in x
    ]
    assert any(rec["correlation_id"] == cid for rec in webhook_lines)


def test_traceparent_and_generated_correlation_ids(deployment: Deployment) -> None:
    trace_id = uuid.uuid4().hex
    resp = deployment.get("/version", None, headers={"traceparent": f"00-{trace_id}-{'1' * 16}-01"})
    assert resp.headers["X-Correlation-ID"] == trace_id
    generated = deployment.get("/version", None).headers["X-Correlation-ID"]
    assert uuid.UUID(generated).version == 4
    unsafe = deployment.get("/version", None, headers={"X-Correlation-ID": "bad\tvalue{}"})
    assert unsafe.headers["X-Correlation-ID"] != "bad\tvalue{}"
    missing = deployment.get(
        f"/api/v2/jobs/{uuid.uuid4()}", "alice", headers={"X-Correlation-ID": "err-1"}
    )
    assert missing.status_code == 404
    assert missing.headers["X-Correlation-ID"] == "err-1"
    assert missing.json() == {
        "error": {
            "code": "job_not_found",
            "message": missing.json()["error"]["message"],
            "correlation_id": "err-1",
        }
    }


def test_auth_is_required_and_users_are_isolated(deployment: Deployment) -> None:
    run = deployment.upload(FIXTURES / "small.pdf", user="heidi")
    body = run.json()
    for path in (f"/api/v2/jobs/{body['job_id']}", f"/api/v2/documents/{body['document_id']}"):
        resp = deployment.get(path, None)
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        assert resp.json()["error"]["code"] == "unauthorized"
        wrong = deployment.get(path, None, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert deployment.get(path, "bob").status_code == 404  # someone else's
        assert deployment.get(path, "heidi").status_code == 200


def test_webhook_signature_is_enforced(deployment: Deployment) -> None:
    run = deployment.run(FIXTURES / "small.pdf", user="ivan")
    job_id = run["upload"]["job_id"]
    url = f"{deployment.api}/api/v2/webhooks/llamaparse/{job_id}"
    body = json.dumps({"job_id": "x", "status": "SUCCESS", "md": "# forged"}).encode()

    def post(headers: dict[str, str], target: str = url) -> requests.Response:
        return requests.post(target, data=body, headers=headers, timeout=HTTP_TIMEOUT)

    unsigned = post({})
    assert unsigned.status_code == 401
    assert unsigned.json()["error"]["code"] == "invalid_signature"
    assert post({"X-Webhook-Signature": "0" * 64}).status_code == 401
    wrong_job = deployment.sign(str(uuid.uuid4()), body)
    assert post({"X-Webhook-Signature": wrong_job}).status_code == 401
    good = post({"X-Webhook-Signature": deployment.sign(job_id, body)})
    assert good.status_code == 200
    assert good.json() == {"accepted": True, "applied": False}  # job no longer waits
    tampered_sig = deployment.sign(job_id, body + b" ")
    assert post({"X-Webhook-Signature": tampered_sig}).status_code == 401
    unknown = str(uuid.uuid4())
    signed_unknown = post(
        {"X-Webhook-Signature": deployment.sign(unknown, body)},
        f"{deployment.api}/api/v2/webhooks/llamaparse/{unknown}",
    )
    assert signed_unknown.status_code == 404
    # The forged body changed nothing.
    again = deployment.get(f"/api/v2/documents/{run['upload']['document_id']}", "ivan").json()
    assert again["parsed_text_sha256"] == run["document"]["parsed_text_sha256"]


def test_health_version_and_metrics(deployment: Deployment) -> None:
    health = deployment.get("/health", None)
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "healthy"
    deps = body["dependencies"]
    assert {k: v["status"] for k, v in deps.items()} == dict.fromkeys(
        ("database", "worker", "queue", "parser", "embeddings"), "up"
    )
    assert 0 <= deps["worker"]["heartbeat_age_s"] < 5
    # nothing died: the restart count test_supervision sees grow is 0 here, and the ready
    # file carries no restart count
    assert deps["worker"]["restarts"] == 0 and deps["worker"]["workers"] == 2
    assert "worker_restarts" not in deployment.ready
    version = deployment.get("/version", None).json()
    assert version["schema_version"] == LATEST_SCHEMA == 3
    assert version["config_fingerprint"] == {
        "chunker": "markdown-simple@1",
        "embedding_model": "text-embedding-3-small",
        "embedding_dimensions": 1536,
        "parser": "llamaparse-standin",
    }
    assert HEX64.match(version["fingerprint_sha256"])
    assert re.match(r"^([0-9a-f]{40}|unknown)$", version["git_revision"])
    deployment.run(FIXTURES / "small.pdf", user="rate")
    text = deployment.get("/metrics", None).text
    for name in (
        "docservice_uploads_total",
        "docservice_jobs_completed_total",
        "docservice_stage_duration_seconds_bucket",
        "docservice_queue_depth",
        "docservice_worker_heartbeat_age_seconds",
        'docservice_http_requests_total{method="POST",route="/api/v2/upload",status="202"}',
    ):
        assert name in text, name
    completed = re.search(r"^docservice_jobs_completed_total ([0-9.]+)$", text, re.M)
    assert completed and float(completed.group(1)) >= 1
    secret_free = Path(deployment.ready["data_dir"]).joinpath("logs")
    for log in secret_free.glob("*.log"):
        assert "docservice-test-webhook-secret" not in log.read_text(errors="replace")

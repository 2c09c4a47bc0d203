"""The pipeline on PostgreSQL (a throwaway server from the machine's binaries), 2 workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from docservice_support import (
    FIXTURES,
    HTTP_TIMEOUT,
    PG_BIN,
    PIPELINE,
    Deployment,
    launch,
    pid_alive,
)
from test_docservice_pipeline import assert_complete

from docservice.db import LATEST_SCHEMA

pytestmark = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists(), reason=f"PostgreSQL binaries not found in {PG_BIN}"
)


@pytest.fixture(scope="module")
def pg_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A PostgreSQL-backed deployment with 2 workers; teardown proves postgres is gone."""
    with launch(tmp_path_factory.mktemp("pg"), workers=2, database="postgres") as dep:
        yield dep
    assert not pid_alive(dep.ready["pids"]["postgres"]), "postgres outlived the launcher"
    assert not Path(dep.ready["postgres_dir"]).exists(), "postgres files left behind"


def test_ready_file_reports_postgres(pg_deployment: Deployment) -> None:
    ready = pg_deployment.ready
    assert ready["database"] == "postgres" and ready["workers"] == 2
    assert pid_alive(ready["pids"]["postgres"])
    health = pg_deployment.get("/health", None).json()
    assert health["dependencies"]["database"]["status"] == "up"
    assert health["dependencies"]["worker"]["workers"] == 2
    assert pg_deployment.get("/version", None).json()["schema_version"] == LATEST_SCHEMA


@pytest.mark.parametrize("name", ["medium.pdf", "large.pdf"])
def test_fixture_pdf_completes_on_postgres(pg_deployment: Deployment, name: str) -> None:
    run = pg_deployment.run(
        FIXTURES / name, user="alice", headers={"X-Correlation-ID": f"pg-{name}"}
    )
    assert_complete(run, f"pg-{name}")


def test_concurrent_jobs_are_claimed_once(pg_deployment: Deployment) -> None:
    jobs = []
    for user in ("bob", "carol"):
        for name in ("small.pdf", "medium.pdf", "large.pdf"):
            resp = pg_deployment.upload(FIXTURES / name, user=user)
            assert resp.status_code == 202, resp.text
            jobs.append((resp.json()["job_id"], user))
    for job_id, user in jobs:
        assert [e["status"] for e in pg_deployment.wait(job_id, user)] == PIPELINE


def test_two_runs_give_identical_digests_on_postgres(pg_deployment: Deployment) -> None:
    first = pg_deployment.run(FIXTURES / "small.pdf", user="dave")
    doc_id = first["document"]["document_id"]
    resp = pg_deployment.http.delete(
        f"{pg_deployment.api}/api/v2/documents/{doc_id}",
        headers={"Authorization": "Bearer tok-dave"},
        timeout=HTTP_TIMEOUT,
    )
    assert resp.status_code == 204
    second = pg_deployment.run(FIXTURES / "small.pdf", user="dave")
    for key in ("document_id", "parsed_text_sha256", "chunks", "vectors"):
        assert first["document"][key] == second["document"][key], key

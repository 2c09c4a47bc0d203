"""Set-up shared by the smoke suite: plain helpers a user would write, no plugin internals.

The suite talks to the deployment only through the plugin's public fixtures (``target``,
``api``, ``correlation_id``, ``upload_document``, ``upload_document_async``, ``baseline``,
``json_schema``, ``timings``) and HTTP. What lives here:

* ``canary_pdf``: a unique copy of a fixture document (its bytes end with a PDF comment naming
  the test's correlation ID), so every canary is a *new* document - never a duplicate of a
  leftover from an earlier run or of a parallel test's upload, and always deleted by the test
  that created it. The comment sits after ``%%EOF``: the PDF's pages and text are unchanged,
  so parsed text, chunks and vectors are the same as the fixture's.
* ``sign_webhook``: the parser's webhook signature for a job (needs the target secret
  ``webhook_secret``; the per-job secret is ``hex(HMAC-SHA256(master, job_id))``).
* ``upload_limit_bytes``: the target's upload size limit, to build a "too large" upload.
* ``smoke_env``: this environment's settings from ``environments.toml`` (test doubles,
  embedding tolerance).
* ``validate_run``: every response a ``PipelineRun`` kept, held to its JSON Schema.
* ``scrape_metrics``: the ``/metrics`` page parsed into ``{(name, labels): value}``.
* ``prometheus``: the Prometheus HTTP API of the target's monitoring (``target.prometheus_url``
  with ``target.prometheus_headers()``), or a skip saying it is not configured.
* The budgets every check is held to (``Budgets``), overridable through the environment.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import smoke_environments
from smoke_support import DEFAULT_UPLOAD_LIMIT, FIXTURES, SCHEMAS, Budgets, parse_metrics


@pytest.fixture(scope="session")
def budgets() -> Budgets:
    """The absolute budgets (see :class:`Budgets`)."""
    return Budgets.from_env()


@pytest.fixture(scope="session")
def smoke_env(target: Any) -> smoke_environments.SmokeEnvironment:
    """This environment's smoke settings (``environments.toml``): which identities are test
    doubles here, and the embedding similarity the canary requires."""
    return smoke_environments.load(target.name, bool(target.protected))


@pytest.fixture
def canary_pdf(tmp_path: Path, correlation_id: str) -> Callable[[str], Path]:
    """``canary_pdf("small.pdf") -> Path``: a unique copy of a fixture PDF for this test.

    Each call gives different bytes (same pages and text), so the upload creates a new
    document that this test owns and deletes.
    """
    count = {"n": 0}

    def make(name: str = "small.pdf") -> Path:
        count["n"] += 1
        data = (FIXTURES / name).read_bytes()
        marker = f"\n%deployverify-canary {correlation_id} {count['n']}\n".encode()
        path = tmp_path / f"canary-{count['n']}-{name}"
        path.write_bytes(data + marker)
        return path

    return make


@pytest.fixture
def sign_webhook(target: Any) -> Callable[[str, bytes], str]:
    """``sign_webhook(job_id, body) -> hex signature`` as the parser computes it."""
    if not target.has_secret("webhook_secret"):
        pytest.skip(
            f"target {target.name!r} has no secret 'webhook_secret': add it to its secrets "
            "table to verify webhook signatures"
        )
    master = target.secret("webhook_secret").encode()

    def sign(job_id: str, body: bytes) -> str:
        job_secret = hmac.new(master, job_id.encode(), hashlib.sha256).hexdigest()
        return hmac.new(job_secret.encode(), body, hashlib.sha256).hexdigest()

    return sign


@pytest.fixture(scope="session")
def upload_limit_bytes(target: Any) -> int:
    """The target's upload limit: ``SMOKE_MAX_UPLOAD_BYTES``, else what an embedded
    deployment was launched with (``DOCSERVICE_MAX_UPLOAD_BYTES`` in its ``launch_env``), else
    docservice's default of 25 MiB."""
    raw = os.environ.get("SMOKE_MAX_UPLOAD_BYTES", "").strip()
    if not raw and target.launch is not None:
        raw = dict(target.launch.env).get("DOCSERVICE_MAX_UPLOAD_BYTES", "")
    return int(raw) if raw else DEFAULT_UPLOAD_LIMIT


@pytest.fixture
def scrape_metrics(api: Any) -> Callable[[], dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    """``scrape_metrics()``: GET /metrics (must be 200) and parse it."""

    def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        response = api.get("/metrics")
        assert response.status_code == 200, (
            f"GET /metrics answered {response.status_code}, expected 200 "
            f"(correlation ID {api.correlation_id}): {response.text[:300]}"
        )
        return parse_metrics(response.text)

    return scrape


@pytest.fixture
def validate_run(json_schema: Any) -> Callable[[Any], Any]:
    """``validate_run(run) -> run``: hold every response ``upload_document`` kept - the upload
    answer, the job as last polled, the document - to its schema under fixtures/schemas/.

    Call it before ``run.raise_for_outcome()``: a field served as null or renamed is drift,
    named at its path, rather than a stall or a missing status.
    """

    def validate(run: Any) -> Any:
        if run.upload_response is not None:
            ok = run.upload_status_code is not None and run.upload_status_code < 400
            name = "upload" if ok else "error"
            json_schema.validate(run.upload_response, schema=f"{SCHEMAS}/{name}.schema.json")
        if run.job is not None:
            json_schema.validate(run.job, schema=f"{SCHEMAS}/job.schema.json")
        if run.document is not None:
            json_schema.validate(run.document, schema=f"{SCHEMAS}/document.schema.json")
        return run

    return validate


class PrometheusApi:
    """GET the Prometheus HTTP API (``/api/v1/...``): every call bounded by the target's
    timeouts, a non-success answer an AssertionError naming the path (never the auth header)."""

    def __init__(self, url: str, headers: dict[str, str], verify: Any, timeout: Any) -> None:
        import requests

        self.url = url
        self._session = requests.Session()
        self._session.headers.update(headers)
        self._verify, self._timeout = verify, timeout

    def get(self, path: str, **params: str) -> Any:
        """The ``data`` of ``GET {url}{path}?params``."""
        import requests

        try:
            resp = self._session.get(
                f"{self.url}{path}", params=params, verify=self._verify, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise AssertionError(
                f"Prometheus at {self.url} did not answer GET {path}: {type(exc).__name__}"
            ) from None
        body = (
            resp.json()
            if resp.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        assert resp.status_code == 200 and body.get("status") == "success", (
            f"Prometheus GET {path} {params or ''} answered {resp.status_code}: {resp.text[:300]}"
        )
        return body["data"]

    def value(self, query: str) -> float | None:
        """The single value of an instant query (None when it returns nothing)."""
        result = self.get("/api/v1/query", query=query)["result"]
        return float(result[0]["value"][1]) if result else None

    def close(self) -> None:
        self._session.close()


@pytest.fixture
def prometheus(target: Any) -> Iterator[PrometheusApi]:
    """The target's Prometheus (``prometheus_url`` of its environment, or of the deployment it
    launched); skips, naming what was not checked, when it has none."""
    if not target.prometheus_url:
        pytest.skip(
            f"target {target.name!r} names no prometheus_url: its scrape target, the canary's "
            "counters in Prometheus, the loaded alert rules and the firing alerts were not "
            "checked (docs/configuration.md)"
        )
    api = PrometheusApi(
        target.prometheus_url, target.prometheus_headers(), target.verify, target.timeout
    )
    yield api
    api.close()

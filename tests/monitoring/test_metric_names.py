"""Every metric a dashboard or an alert rule queries exists: in a real scrape of docservice
after a document went through it, or in the textfile a real verification run writes
(``--metrics-file``). A renamed metric turns a panel blank and an alert blind, silently;
this test is what notices."""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from monitoring_support import (
    DASHBOARDS,
    REPO,
    dashboard_queries,
    metric_names,
    recorded_names,
    rule_queries,
    rules,
    sample_names,
)

#: series Prometheus itself makes: ``up`` per target, ``ALERTS`` per active alert
PROMETHEUS_OWN = {"up"}


@pytest.fixture(scope="module")
def docservice_scrape(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Sample names of docservice's /metrics after one document completed."""
    from pytest_deployverify import launch
    from pytest_deployverify.config import LaunchSpec

    spec = LaunchSpec(
        command="{python} -m docservice up --ready-file {ready_file} --latency-ms 5",
        secrets=(("DOCSERVICE_API_TOKENS", "api_token"),),
        cwd=str(REPO),
    )
    deployment = launch.start(spec, env_name="metric-names", timeout=90)
    try:
        token = deployment.secrets["api_token"].split("=", 1)[0]
        auth = {"Authorization": f"Bearer {token}"}
        url = deployment.api_url
        pdf = REPO / "fixtures" / "small.pdf"
        with requests.Session() as http:
            resp = http.post(
                f"{url}/api/v2/upload",
                files={"file": ("small.pdf", pdf.read_bytes(), "application/pdf")},
                headers=auth,
                timeout=(3, 15),
            )
            assert resp.status_code == 202, resp.text
            job = resp.json()["job_id"]
            deadline = time.monotonic() + 60
            status = None
            while status != "complete":
                assert time.monotonic() < deadline, f"job {job} stuck at {status}"
                status = http.get(f"{url}/api/v2/jobs/{job}", headers=auth, timeout=(3, 15)).json()[
                    "status"
                ]
                time.sleep(0.05)
            page = http.get(f"{url}/metrics", timeout=(3, 15))
            assert page.status_code == 200
            return sample_names(page.text)
    finally:
        deployment.stop()


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def target_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def verifier_textfile(pytester: pytest.Pytester, target_url: str) -> set[str]:
    """Sample names of the textfile a verification run writes: a baseline recorded, then a
    run twice as slow compared with it, so the timing series are there too."""
    pytester.makefile(
        ".toml",
        pyproject=textwrap.dedent(
            f"""
            [tool.deployverify]
            default_env = "stage"
            [tool.deployverify.envs.stage]
            base_url = "{target_url}"
            version_path = ""
            """
        ),
    )
    pytester.makepyfile(
        test_inner="""
        import os
        def test_perf(timings, target):
            factor = float(os.environ.get("SLOWDOWN", "1"))
            for s in [0.10, 0.11, 0.12, 0.10, 0.13, 0.11, 0.12, 0.10]:
                timings.record("stage.total", s * factor)
        """
    )
    args = ("-p", "no:cacheprovider", "--baseline", "bl", "--metrics-file", "dv.prom")
    assert pytester.runpytest(*args, "--record-baseline", "--record-runs", "1").ret == 0
    pytester.path.joinpath("dv.prom").unlink(missing_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLOWDOWN", "2")
        assert pytester.runpytest(*args).ret == 1
    return sample_names(pytester.path.joinpath("dv.prom").read_text(encoding="utf-8"))


def _queried() -> dict[str, set[str]]:
    """metric name -> where it is queried (dashboard file or rule)."""
    where: dict[str, set[str]] = {}
    for path in DASHBOARDS:
        for expr in dashboard_queries(path):
            for name in metric_names(expr):
                where.setdefault(name, set()).add(f"monitoring/grafana/{path.name}")
    for rule in rules():
        for name in metric_names(str(rule["expr"])):
            where.setdefault(name, set()).add(rule.get("alert") or rule.get("record"))
    return where


def test_the_dashboards_query_the_service_and_the_verifier() -> None:
    names = {p.name for p in DASHBOARDS}
    assert {"docservice.json", "deployverify.json"} <= names, names
    queried = _queried()
    for needed in (
        "docservice_uploads_total",
        "docservice_jobs",
        "docservice_stage_duration_seconds_bucket",
        "docservice_queue_depth",
        "docservice_worker_heartbeat_age_seconds",
        "docservice_worker_starts_total",
        "docservice_external_requests_total",
        "deployverify_verdict",
        "deployverify_checks",
        "deployverify_timing_ratio",
    ):
        assert any(f"grafana/{d}" in w for d in names for w in queried.get(needed, ())), needed


def test_every_queried_metric_exists_in_a_real_scrape_or_textfile(
    docservice_scrape: set[str], verifier_textfile: set[str]
) -> None:
    exposed = docservice_scrape | verifier_textfile | PROMETHEUS_OWN
    missing = {name: sorted(w) for name, w in _queried().items() if name not in exposed}
    assert not missing, (
        f"queried but exposed by neither docservice's /metrics nor the verifier's textfile: "
        f"{missing}"
    )


def test_every_recording_rule_a_query_uses_is_defined() -> None:
    defined = {r["record"] for r in rules() if "record" in r}
    used: dict[str, set[str]] = {}
    for path in DASHBOARDS:
        for expr in dashboard_queries(path):
            for name in recorded_names(expr):
                used.setdefault(name, set()).add(path.name)
    for expr in rule_queries():
        for name in recorded_names(expr):
            used.setdefault(name, set()).add("rules.yml")
    undefined = {n: sorted(w) for n, w in used.items() if n not in defined}
    assert not undefined, f"recording rules queried but not defined in rules.yml: {undefined}"
    assert used, "no recording rule is used"


def test_the_name_check_notices_a_missing_metric(docservice_scrape: set[str]) -> None:
    """The check can fail: a name docservice does not expose is reported missing."""
    assert "docservice_jobs" in docservice_scrape
    assert "docservice_job" not in docservice_scrape
    assert metric_names('max by (status) (docservice_job{status="x"})') == {"docservice_job"}
    assert metric_names("docservice:jobs_failed:rate5m / up") == {"up"}


def test_dashboards_are_importable_json() -> None:
    import json

    for path in DASHBOARDS:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        assert data["uid"] and data["title"] and data["panels"], path
        ids = [p["id"] for p in data["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for p in data["panels"]:
            assert p["datasource"]["uid"] == "${DS_PROMETHEUS}", (path.name, p["title"])
            assert p["targets"], (path.name, p["title"])

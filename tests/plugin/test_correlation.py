"""One correlation ID per test on every request, W3C traceparent, and the echo check."""

from __future__ import annotations

import json
import re

import pytest

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")


def test_headers_on_every_request(project, docservice, monkeypatch, evidence, mode):
    """Against docservice: default header names, the ID echoed, no finding."""
    project.docservice(docservice, monkeypatch)
    project.tests(
        """
        def test_one(api, correlation_id):
            r1 = api.get("/version")
            r2 = api.get("/health")
            assert r1.headers["X-Correlation-ID"] == correlation_id
            assert r2.headers["X-Correlation-ID"] == correlation_id
            assert api.findings == []

        def test_two(api, correlation_id):
            api.get("/version")
        """
    )
    result = project.run(*mode)
    result.assert_outcomes(passed=2)
    ev = evidence(result)
    ids = {name: e.correlation_ids for name, e in ev.items()}
    assert len(ids["test_one"]) == 1 and len(ids["test_two"]) == 1
    assert ids["test_one"] != ids["test_two"]
    assert all(x.correlation_id == ids["test_one"][0] for x in ev["test_one"].exchanges)
    assert not ev["test_one"].findings


def test_traceparent_carries_the_id(alt, alt_key):
    from pytest_deployverify.client import ApiClient
    from pytest_deployverify.config import Auth, Target
    from pytest_deployverify.correlation_ids import trace_id_for
    from pytest_deployverify.profile import CorrelationConfig

    target = Target(
        name="alt",
        base_url=alt.url,
        auth=Auth("header", "X-Api-Key", "key"),
        secrets={"key": alt_key},
        correlation=CorrelationConfig(header="X-Request-ID", extra_headers=("X-Trace-Tag",)),
    )
    with ApiClient(target) as client:
        client.get("/ingest/v1/files/none")
        client.get("/ingest/v1/files/none")
    sent = [r["headers"] for r in alt.requests]
    parents = set()
    for headers in sent:
        assert headers["X-Request-ID"] == client.correlation_id
        assert headers["X-Trace-Tag"] == client.correlation_id
        match = TRACEPARENT.match(headers["traceparent"])
        assert match, headers["traceparent"]
        assert match.group(1) == trace_id_for(client.correlation_id)
        assert match.group(1) == client.correlation_id.replace("-", "")
        assert match.group(2).strip("0")
        parents.add(match.group(2))
    assert len(parents) == 2  # a new parent-id (span) per request
    assert trace_id_for("not-a-uuid") != "0" * 32 and len(trace_id_for("x")) == 32


def test_traceparent_can_be_turned_off(project, alt):
    project.alt(alt)  # the alt profile sets traceparent = false
    project.tests("def test_x(api):\n    api.get('/ingest/v1/files/none')\n")
    project.run().assert_outcomes(passed=1)
    assert "traceparent" not in alt.requests[-1]["headers"]
    assert "X-Correlation-ID" not in alt.requests[-1]["headers"]


def test_dropped_echo_fails_the_test_and_is_a_finding(project, alt, evidence, mode):
    project.alt(alt)
    alt.knobs["drop_echo"] = True
    project.tests(
        """
        def test_lost(api):
            for _ in range(3):
                api.get("/ingest/v1/files/abc0123456789abcdef0123")
        """
    )
    result = project.run(*mode)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*correlation ID not echoed: the service must return X-Request-ID on every response*",
            "*- GET /ingest/v1/files/abc0123456789abcdef0123 answered 404 without a X-Request-ID "
            "header; sent * (x3)",
        ]
    )
    ev = evidence(result)["test_lost"]
    (finding,) = ev.findings
    assert finding.kind == "correlation" and finding.outcome == "fail"
    assert finding.expected == ev.correlation_ids[0]
    assert finding.observed == {"echoed": None, "status": 404, "count": 3}
    assert finding.correlation_ids == ev.correlation_ids
    assert finding.path == "GET /ingest/v1/files/abc0123456789abcdef0123"


def test_echo_record_only(project, alt, evidence):
    project.alt(alt)
    text = (project.pytester.path / "pyproject.toml").read_text()
    text = text.replace("traceparent = false", 'traceparent = false\necho = "record"')
    (project.pytester.path / "pyproject.toml").write_text(text)
    alt.knobs["drop_echo"] = True
    project.tests("def test_lost(api):\n    api.get('/healthz')\n")
    result = project.run()
    result.assert_outcomes(passed=1)
    (finding,) = evidence(result)["test_lost"].findings
    assert finding.kind == "correlation" and finding.outcome == "pass"
    assert "recorded, not judged" in finding.message
    # recorded: shown in the report, never failing the verdict
    reports = project.pytester.path / "reports"
    verdict = json.loads((reports / "verdict.json").read_text())
    assert verdict["verdict"] == "pass" and result.ret == 0
    (check,) = [c for c in verdict["checks"] if c["name"] == "correlation-echo"]
    assert "echo = 'record'" in check["rule"]
    # a recorded-only finding passes: summary.md counts it with the passes of its kind
    passed_line = (reports / "summary.md").read_text().split("Passed: ", 1)[1].splitlines()[0]
    assert check["kind"] in passed_line


def test_a_different_echo_is_caught(project, docservice, monkeypatch):
    """A service that echoes someone else's ID (here: our header name is not the one the
    service reads, so it generates its own) is caught too."""
    project.docservice(docservice, monkeypatch)
    text = (project.pytester.path / "pyproject.toml").read_text()
    text += '\n[tool.deployverify.correlation]\nheader = "X-Request-ID"\ntraceparent = false\necho_header = "X-Correlation-ID"\n'
    (project.pytester.path / "pyproject.toml").write_text(text)
    project.tests("def test_other(api):\n    api.get('/version')\n")
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*answered 200 with X-Correlation-ID: '*'; sent *"])


def test_docservice_drop_correlation_fault_is_detected(project, small_pdf):
    """docservice with the drop_correlation fault: a test that uploads and passes otherwise
    fails, naming the routes that lost the ID."""
    import importlib.util

    if importlib.util.find_spec("docservice.__main__") is None:
        pytest.skip("docservice launcher not available yet")
    project.pyproject(
        """
        [tool.deployverify.envs.local]
        launch = "{python} -m docservice up --ready-file {ready_file} --fault drop_correlation"
        launch_secrets = { DOCSERVICE_API_TOKENS = "api_token", DOCSERVICE_WEBHOOK_SECRET = "webhook_secret" }
        auth = "bearer:api_token"
        """
    )
    project.tests(
        f"""
        def test_upload(upload_document):
            upload_document({small_pdf!r}).raise_for_outcome()
        """
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*correlation ID not echoed*",
            "*- GET /api/v2/jobs/* answered 200 without a X-Correlation-ID header; sent * (x*)",
        ]
    )

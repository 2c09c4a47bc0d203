"""Replay commands (issue 15): every failed request and failed check carries a curl command
that sends the request again, with the same correlation ID and the auth as a reference to the
environment variable the secret came from. Executed here with bash and the machine's curl
against a running deployment of the differently shaped service (altservice), and against a
small bearer-token server for the ``--oauth2-bearer`` form."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from plugin_support import ALT_KEY, ALT_KEY_VAR

from pytest_deployverify.redact import redact_text
from pytest_deployverify.replay import AuthReference, ReplaySettings, SentRequest, command
from pytest_deployverify.verdict_document import schema

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(
    CURL is None, reason="curl is not installed (scripts/ensure-system-deps.sh installs it)"
)

INNER = """
import json

PDF = {pdf!r}


def test_missing_route(api):
    r = api.get("/ingest/v1/nothing/here?page=2")
    assert r.status_code == 200, r.text


def test_document_name(upload_document, api):
    run = upload_document(PDF)
    run.raise_for_outcome()
    doc = api.get("/ingest/v1/files/" + run.document_id).json()
    assert doc["name"] == "expected-name.pdf"


def test_upload_without_its_field(api):
    with open(PDF, "rb") as fh:
        r = api.post("/ingest/v1/files", files={{"wrong": fh}}, data={{"meta": "{{}}"}})
    assert r.status_code == 201, r.text


def test_secret_echoed(api, target):
    key = target.secret("key")
    r = api.post(
        "/ingest/v1/echo?token=" + key + "&plain=1",
        json={{"copy": key, "note": "see " + key}},
        headers={{"X-Copy": key}},
    )
    assert r.status_code == 200, key


def test_passes(api):
    assert api.get("/healthz").ok


def test_component_check_fails(api, component_check):
    r = api.get("/ingest/v1/files/not-there")
    component_check("store", "fail", observed={{"status": r.status_code}}, message="lookup failed")
"""


def _bash(cmd: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", cmd],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def _run_inner(project, alt, small_pdf, *mode: str) -> tuple[Path, dict[str, Any]]:
    project.alt(alt)
    project.tests(INNER.format(pdf=small_pdf))
    result = project.run("--html=reports/report.html", "--self-contained-html", *mode)
    result.assert_outcomes(passed=2, failed=4)
    root = project.pytester.path
    verdict = json.loads((root / "reports" / "verdict.json").read_text(encoding="utf-8"))
    jsonschema.validate(verdict, schema())
    return root, verdict


def _tests(verdict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["nodeid"].split("::")[-1]: t for t in verdict["tests"]}


@needs_curl
def test_replays_of_failures_run_as_printed_and_hold_no_secret(project, alt, small_pdf, mode):
    root, verdict = _run_inner(project, alt, small_pdf, *mode)
    tests = _tests(verdict)
    assert tests["test_passes"]["replays"] == []

    # a failed request: replayed as printed (with the key's variable set) it fails the same way
    (missing,) = tests["test_missing_route"]["replays"]
    assert missing["request"] == "GET /ingest/v1/nothing/here?page=2"
    assert missing["status"] == 404 and missing["reason"] == "answered 404"
    cid = tests["test_missing_route"]["correlation_ids"][0]
    assert f"X-Request-ID: {cid}" in missing["command"]
    assert (
        f"'X-Api-Key'\": ${{{ALT_KEY_VAR}?" in missing["command"]
        and "--max-time" in missing["command"]
    )
    alt.reset()
    out = _bash(missing["command"])
    assert out.returncode == 0, out.stderr
    assert "HTTP/1.1 404" in out.stdout and "no route" in out.stdout
    # the service saw the same correlation ID and the key, sent from the variable
    (seen,) = alt.requests
    assert seen["headers"]["X-Request-ID"] == cid
    assert seen["headers"]["X-Api-Key"] == ALT_KEY
    # without the variable the shell refuses to send it, naming the variable
    unset = subprocess.run(
        ["bash", "-c", missing["command"]],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != ALT_KEY_VAR},
        check=False,
    )
    assert unset.returncode != 0 and ALT_KEY_VAR in unset.stderr

    # an upload request with a file: -F with the real path of the file
    (upload,) = tests["test_upload_without_its_field"]["replays"]
    assert upload["status"] == 400
    assert f'-F \'wrong=@"{small_pdf}";filename="small.pdf"\'' in upload["command"]
    assert "--form-string 'meta={}'" in upload["command"]
    out = _bash(upload["command"])
    assert "HTTP/1.1 400" in out.stdout and "no upload field" in out.stdout, out.stderr

    # a request on a document the run has since deleted: the upload first, then the request
    # with the id read from the upload's answer; run as printed it shows the failing value
    (last,) = tests["test_document_name"]["replays"]
    assert last["reason"] == "the last request before the failure"
    lines = last["command"].splitlines()
    assert lines[0].startswith("# the run deleted this document")
    assert lines[1].startswith("DV_UPLOAD=$(curl ") and f'upload=@"{small_pdf}"' in lines[1]
    assert lines[2].startswith("DATA_FILE_ID=$(") and lines[2].endswith(" data.file.id)")
    assert lines[3].endswith('/ingest/v1/files/"$DATA_FILE_ID"')
    before = set(alt.files)
    out = _bash(last["command"])
    assert out.returncode == 0, out.stderr
    (new,) = set(alt.files) - before
    assert "HTTP/1.1 200" in out.stdout and f'"id": "{new}"' in out.stdout
    assert '"name": "small.pdf"' in out.stdout  # the value the test found wrong
    assert f'"size": {Path(small_pdf).stat().st_size}' in out.stdout
    alt.files.pop(new, None)

    # the secret the test sent in the query, the body and a header, and the service echoed
    (echoed,) = tests["test_secret_echoed"]["replays"]
    assert "plain=1" in echoed["command"] and "--data-raw" in echoed["command"]
    everything = {
        name: (root / "reports" / name).read_text(encoding="utf-8")
        for name in ("summary.md", "report.html", "verdict.json")
    }
    for name, text in everything.items():
        assert ALT_KEY not in text, name
        assert "curl -sSi --max-time" in text, name
    # a failed check (a test that passed): the replay of the request it is about
    (check,) = [c for c in verdict["checks"] if c["name"] == "component:store"]
    assert check["replay"].endswith("/ingest/v1/files/not-there")
    assert tests["test_component_check_fails"]["outcome"] == "passed"
    assert [r["status"] for r in tests["test_component_check_fails"]["replays"]] == [404]
    assert "Replay the request this check is about:" in everything["report.html"]
    # the same commands in every report
    summary = everything["summary.md"]
    assert "  " + check["replay"] in summary
    assert "  " + missing["command"] in summary
    assert "Replay GET /ingest/v1/nothing/here?page=2 (answered 404):" in summary
    page = everything["report.html"]
    assert "dv-replay-command" in page and "DATA_FILE_ID" in page


def _bearer_server() -> tuple[ThreadingHTTPServer, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(dict(self.headers.items()))
            ok = self.headers.get("Authorization") == "Bearer s3cr3t-value-123"
            body = json.dumps({"authorised": ok, "pages": 2}).encode()
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def _settings(kind: str = "bearer", header: str = "Authorization") -> ReplaySettings:
    return ReplaySettings(
        auth=AuthReference(kind=kind, header=header, variable="DEPLOYVERIFY_API_TOKEN"),
        auth_headers=frozenset({header.lower()}),
        secrets=("s3cr3t-value-123",),
        max_time=18,
    )


@needs_curl
def test_bearer_auth_is_sent_from_its_variable():
    server, seen = _bearer_server()
    try:
        host, port = server.server_address[:2]
        sent = SentRequest(
            "GET",
            f"http://{host}:{port}/api/v2/documents/d1?x=1",
            {"X-Correlation-ID": "cid-1", "Authorization": "Bearer s3cr3t-value-123"},
        )
        cmd = command(sent, _settings())
        assert "s3cr3t-value-123" not in cmd
        assert '--oauth2-bearer "${DEPLOYVERIFY_API_TOKEN?' in cmd
        out = _bash(cmd, env={"DEPLOYVERIFY_API_TOKEN": "s3cr3t-value-123"})
        assert '"authorised": true' in out.stdout, out.stderr
        assert seen[-1]["X-Correlation-ID"] == "cid-1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("kind,header", [("bearer", "Authorization"), ("header", "X-Api-Key")])
def test_a_replay_survives_the_reports_redaction(kind, header):
    """The reports redact everything again: a replay must come out unchanged."""
    sent = SentRequest(
        "POST",
        "https://svc.example.com/v1/jobs/j-1?token=s3cr3t-value-123&n=2",
        {"X-Correlation-ID": "c", header: "s3cr3t-value-123", "Cookie": "sid=abc"},
        json={"password": "hunter22", "note": "has s3cr3t-value-123 in it", "n": 1},
    )
    cmd = command(sent, _settings(kind, header))
    assert redact_text(cmd, ("s3cr3t-value-123",)) == cmd
    assert "s3cr3t-value-123" not in cmd and "hunter22" not in cmd and "sid=abc" not in cmd
    assert "DEPLOYVERIFY_API_TOKEN" in cmd and "n=2" in cmd


def test_env_file_secret_says_how_to_load_it():
    settings = ReplaySettings(
        auth=AuthReference("header", "X-Key", "SVC_KEY", env_file="/srv/app/.env.staging")
    )
    cmd = command(SentRequest("DELETE", "http://h/x/1", {}), settings)
    first, curl = cmd.splitlines()
    assert first == (
        "# SVC_KEY is read from /srv/app/.env.staging; load it first with  "
        "set -a; . /srv/app/.env.staging; set +a"
    )
    assert curl.startswith("curl -sSi --max-time 30 -X DELETE -H 'X-Key'\": ")


def test_no_auth_and_plain_form_body():
    cmd = command(
        SentRequest("PUT", "http://h/a b", {"Accept": "it's"}, data={"a": ["1", "2"]}),
        ReplaySettings(),
    )
    assert cmd == (
        "curl -sSi --max-time 30 -X PUT -H 'Accept: it'\"'\"'s' --data-urlencode a=1 "
        "--data-urlencode a=2 'http://h/a b'"
    )


def _evidence_with(*requests: tuple[str, str, int | None]) -> Any:
    from pytest_deployverify.evidence import Exchange, TestEvidence

    ev = TestEvidence(nodeid="t.py::test_x", correlation_ids=["c1"])
    for method, path, status in requests:
        x = Exchange(method=method, path=path, status=status, latency_ms=1.0, correlation_id="c1")
        ev.exchanges.append(x)
        ev.sent[id(x)] = SentRequest(method, "http://h" + path, {"X-Correlation-ID": "c1"})
    return ev


def _target() -> Any:
    from pytest_deployverify.config import Auth, Target

    return Target(
        name="t",
        base_url="http://h",
        auth=Auth.parse("bearer:tok"),
        secret_sources=(("tok", "SVC_TOKEN", ""),),
        secrets={"tok": "s3cr3t-value-123"},
    )


def test_failed_check_replays_the_request_it_names_and_passing_tests_get_none():
    from pytest_deployverify import replay_evidence
    from pytest_deployverify.evidence import Finding

    ev = _evidence_with(("GET", "/a", 200), ("GET", "/b", 200), ("GET", "/c", 200))
    named = Finding(check="echo", outcome="fail", rule="r", path="GET /a", correlation_ids=["c1"])
    other = Finding(check="baseline", outcome="fail", rule="r", path="$.pages")
    passed = Finding(check="ok", outcome="pass", rule="r", path="GET /b")
    ev.findings += [named, other, passed]
    ev.outcome = "passed"
    replay_evidence.attach(ev, _target())
    assert named.replay is not None and named.replay.endswith(" http://h/a")
    assert '--oauth2-bearer "${SVC_TOKEN?' in named.replay
    # not named by path: the last request with its correlation ID
    assert other.replay is not None and other.replay.endswith(" http://h/c")
    assert passed.replay is None
    assert ev.replays == [] and ev.sent == {}  # no failed request; records dropped

    quiet = _evidence_with(("GET", "/a", 500))
    quiet.outcome = "passed"
    replay_evidence.attach(quiet, _target())
    assert quiet.replays == [] and quiet.sent == {}


def test_teardown_requests_count_only_when_unanswered_or_5xx():
    from pytest_deployverify import replay_evidence

    ev = _evidence_with(
        ("GET", "/p", 200), ("DELETE", "/d/1", 404), ("DELETE", "/d/2", 503), ("GET", "/p", 200)
    )
    ev.exchanges_before_teardown = 1
    ev.outcome = "failed"
    replay_evidence.attach(ev, _target())
    assert [r["request"] for r in ev.replays] == ["DELETE /d/2"]
    assert ev.replays[0]["reason"] == "answered 503"

    repeated = _evidence_with(*[("GET", f"/j/{i % 7}", 500) for i in range(40)])
    repeated.outcome = "failed"
    replay_evidence.attach(repeated, _target())
    assert len(repeated.replays) == replay_evidence.MAX_REPLAYS


DOCSERVICE_INNER = """
PDF = {pdf!r}


def test_document_filename(upload_document, api):
    run = upload_document(PDF)
    run.raise_for_outcome()
    doc = api.get("/api/v2/documents/" + run.document_id).json()
    assert doc["filename"] == "expected-name.pdf"
"""


@needs_curl
def test_docservice_replay_reuploads_with_a_bearer_reference(
    project, docservice, monkeypatch, small_pdf
):
    """docservice: bearer auth from DV_TEST_DS_TOKEN, ids at the top of the upload's answer."""
    import requests

    project.docservice(docservice, monkeypatch)
    project.tests(DOCSERVICE_INNER.format(pdf=small_pdf))
    result = project.run()
    result.assert_outcomes(failed=1)
    root = project.pytester.path
    verdict = json.loads((root / "reports" / "verdict.json").read_text(encoding="utf-8"))
    (test,) = verdict["tests"]
    (replay,) = test["replays"]
    cmd = replay["command"]
    assert '--oauth2-bearer "${DV_TEST_DS_TOKEN?export DV_TEST_DS_TOKEN first}"' in cmd
    assert f'-F \'file=@"{small_pdf}";filename="small.pdf";type=application/pdf\'' in cmd
    assert cmd.splitlines()[-1].endswith('/api/v2/documents/"$DOCUMENT_ID"')
    for name in ("summary.md", "verdict.json"):
        assert docservice.token not in (root / "reports" / name).read_text(encoding="utf-8")
    # run as printed; the re-upload's answer goes to stderr so this test can clean it up
    out = _bash(cmd + '\nprintf %s "$DV_UPLOAD" >&2')
    assert out.returncode == 0, out.stderr
    assert "HTTP/1.1 200" in out.stdout and '"filename":"small.pdf"' in out.stdout.replace(" ", "")
    assert test["correlation_ids"][0] in out.stdout  # docservice echoes the same ID
    uploaded = json.loads(out.stderr)
    if not uploaded.get("duplicate"):  # a duplicate belongs to a test running beside this one
        requests.delete(
            f"{docservice.url}/api/v2/documents/{uploaded['document_id']}",
            headers={"Authorization": f"Bearer {docservice.token}"},
            timeout=30,
        )


@needs_curl
def test_a_secret_from_the_env_file_says_how_to_load_it(project, alt, monkeypatch, tmp_path):
    monkeypatch.delenv(ALT_KEY_VAR)
    project.pytester.makefile(".alt", **{".env": f"{ALT_KEY_VAR}={ALT_KEY}\n"})
    project.alt(alt)
    project.tests("def test_gone(api):\n    assert api.get('/ingest/v1/gone').ok\n")
    project.run().assert_outcomes(failed=1)
    root = project.pytester.path
    verdict = json.loads((root / "reports" / "verdict.json").read_text(encoding="utf-8"))
    (replay,) = verdict["tests"][0]["replays"]
    env_file = root / ".env.alt"
    first = replay["command"].splitlines()[0]
    assert first == (
        f"# {ALT_KEY_VAR} is read from {env_file}; load it first with  set -a; . {env_file}; set +a"
    )
    # as the comment says: load the file, then the printed command
    out = _bash(f"set -a; . {env_file}; set +a\n" + replay["command"])
    assert "HTTP/1.1 404" in out.stdout and "no route" in out.stdout, out.stderr
    assert ALT_KEY not in (root / "reports" / "summary.md").read_text(encoding="utf-8")


@needs_curl
def test_awkward_file_names_and_values_survive_the_shell(alt, small_pdf, tmp_path):
    """Quotes, spaces, ';' and '$' in a path, a file name and form values, sent for real."""
    # (a '"' in the file name itself is sent as %22 by curl and requests alike)
    folder = tmp_path / 'a "quoted" dir'
    folder.mkdir()
    awkward = folder / "it's a draft; v$2.pdf"
    awkward.write_bytes(Path(small_pdf).read_bytes())
    settings = ReplaySettings(
        auth=AuthReference("header", "X-Api-Key", ALT_KEY_VAR),
        auth_headers=frozenset({"x-api-key"}),
    )
    with awkward.open("rb") as fh:
        sent = SentRequest(
            "POST",
            f"{alt.url}/ingest/v1/files",
            {"X-Request-ID": "rid-1", "X-Api-Key": ALT_KEY},
            data={"meta": '{"note": "a \'b\' $HOME `x`"}'},
            files={"upload": fh},
        )
        cmd = command(sent, settings)
    out = _bash(cmd)
    assert "HTTP/1.1 201" in out.stdout, out.stderr
    body = json.loads(out.stdout.split("\n\n", 1)[1])  # text mode: \r\n read as \n
    created = alt.files.pop(body["data"]["file"]["id"])
    assert created.name == awkward.name and created.data == awkward.read_bytes()
    assert alt.requests[-1]["headers"]["X-Request-ID"] == "rid-1"

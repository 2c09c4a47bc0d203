"""pytest's own output (assertion messages, -l locals, captured logs and stdout, tracebacks,
junitxml) never shows a secret the session knows, even when the target echoes it back."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

MARKER = "visible-marker-7f3a"  # not a secret: must survive redaction


class _EchoHandler(BaseHTTPRequestHandler):
    """Answers every GET with the bearer token it was sent, like a careless target."""

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        token = auth.split(" ", 1)[1] if " " in auth else ""
        body = json.dumps({"echo": token, "marker": MARKER}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name in ("X-Correlation-ID",):
            if self.headers.get(name):
                self.send_header(name, self.headers[name])
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _echo_pyproject(project, echo_url: str, env_lines: str = "") -> None:
    """pyproject.toml of an inner project whose target (``echo``) is the echo server."""
    project.pyproject(
        f"""
        [tool.deployverify]
        default_env = "echo"

        [tool.deployverify.envs.echo]
        base_url = "{echo_url}"
        health_path = "/health"
        {env_lines}
        """
    )


def _echo_project(
    project, echo_url: str, monkeypatch: pytest.MonkeyPatch, *, other: str = ""
) -> str:
    """An inner project whose target is the echo server; returns its (random) secret token.
    ``other``: a second secret's value (``DV_OTHER_TOKEN``)."""
    secret = f"zq{uuid.uuid4().hex}"
    monkeypatch.setenv("DV_ECHO_TOKEN", secret)
    second = ""
    if other:
        monkeypatch.setenv("DV_OTHER_TOKEN", other)
        second = ', other = "DV_OTHER_TOKEN"'
    _echo_pyproject(
        project,
        echo_url,
        f'secrets = {{ api_token = "DV_ECHO_TOKEN"{second} }}\n        auth = "bearer:api_token"',
    )
    return secret


INNER = f"""
import logging

def test_echo(api):
    body = api.get("/echo").json()
    echoed = body["echo"]   # a local: -l prints it
    logging.getLogger("inner").warning("target said %s and %s", echoed, body["marker"])
    print("stdout has", echoed, body["marker"])
    assert echoed == "{MARKER}", f"the target echoed {{echoed}}"
"""


def test_echoed_secret_appears_nowhere_in_pytest_output(project, echo_url, monkeypatch, mode):
    secret = _echo_project(project, echo_url, monkeypatch)
    project.tests(INNER)
    result = project.run(
        "-l", "--tb=long", "-rA", "--junitxml=junit.xml", "-o", "junit_logging=all", *mode
    )
    result.assert_outcomes(failed=1)
    output = result.stdout.str() + result.stderr.str()
    junit = (project.pytester.path / "junit.xml").read_text(encoding="utf-8")
    # the failure is reported with its evidence: locals, log line, stdout, message
    assert "echoed" in output and "target said" in output and "stdout has" in output
    assert "the target echoed [REDACTED]" in output
    assert "target said [REDACTED]" in junit
    # the secret itself is nowhere; the non-secret value is everywhere it was
    # nor its ends, which pytest shows when it shortens a long value ("zq12...cdef")
    for shown in (output, junit):
        assert secret not in shown
        assert secret[:8] not in shown and secret[-8:] not in shown
    assert output.count(MARKER) >= 3
    assert MARKER in junit


LIVE = f"""
import logging, os, sys

def test_echo_live(api):
    body = api.get("/echo").json()
    echoed = body["echo"]
    assert echoed == os.environ["DV_ECHO_TOKEN"]  # the target did echo it: it would show
    logging.getLogger("inner").warning("live: target said %s and %s", echoed, body["marker"])
    try:
        raise RuntimeError(f"boom {{echoed}}")
    except RuntimeError:
        logging.getLogger("inner").exception("live exc {MARKER}")
    print("stdout has", echoed, body["marker"])
    sys.stderr.write(f"stderr has {{echoed}} {{body['marker']}}\\n")
"""


def test_live_logging_and_uncaptured_output_are_redacted(project, echo_url, monkeypatch, mode):
    """-s prints and live log lines (terminal and --log-file) are written before any report:
    redacted as they are written; what is not a secret still shows."""
    secret = _echo_project(project, echo_url, monkeypatch)
    project.tests(LIVE)
    result = project.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-s", "--log-cli-level=WARNING", "--log-file=live.log", *mode
    )
    result.assert_outcomes(passed=1)
    output = result.stdout.str() + result.stderr.str()
    log_file = (project.pytester.path / "live.log").read_text(encoding="utf-8")
    assert "live: target said [REDACTED] and " + MARKER in log_file
    assert "RuntimeError: boom [REDACTED]" in log_file
    if not mode:  # xdist workers' live logs and prints do not reach the controller's terminal
        assert "live: target said [REDACTED] and " + MARKER in output
        assert "RuntimeError: boom [REDACTED]" in output
        assert f"stdout has [REDACTED] {MARKER}" in output
        assert f"stderr has [REDACTED] {MARKER}" in output
    for shown in (output, log_file):
        assert secret not in shown


PIECES = f"""
import os, subprocess, sys

def test_echo_in_pieces(api):
    echoed = api.get("/echo").json()["echo"]
    assert echoed == os.environ["DV_ECHO_TOKEN"]  # the target did echo it: it would show
    # one secret over two writes, a flush between them
    sys.stdout.write("split " + echoed[:9])
    sys.stdout.flush()
    sys.stdout.write(echoed[9:] + " {MARKER}\\n")
    # straight to the file descriptors, the second one in two pieces
    os.write(1, f"fd1 {{echoed}} {MARKER}\\n".encode())
    os.write(2, ("fd2 " + echoed[:5]).encode())
    os.write(2, f"{{echoed[5:]}} {MARKER}\\n".encode())
    # a child process that inherited them
    subprocess.run([sys.executable, "-c", "import os; print('child', os.environ['DV_ECHO_TOKEN'])"])
    # the start of the secret without its end is not the secret: shown unchanged
    os.write(2, f"almost {{echoed[:6]}}-not-it {MARKER}\\n".encode())
"""


@pytest.mark.parametrize(
    "capture",
    ["-s", "--capture=sys", "--capture=tee-sys", "-s -n 2"],
    ids=["no", "sys", "tee-sys", "no-xdist"],
)
def test_split_and_fd_writes_are_redacted(project, echo_url, monkeypatch, capture):
    """When pytest leaves file descriptors 1 and 2 to the terminal, what reaches them is
    redacted as a stream: a secret split over two writes, os.write, a child's output."""
    secret = _echo_project(project, echo_url, monkeypatch)
    project.tests(PIECES)
    result = project.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-rA", *capture.split()
    )
    result.assert_outcomes(passed=1)
    output = result.stdout.str() + result.stderr.str()
    assert secret not in output
    assert f"fd2 [REDACTED] {MARKER}" in output
    assert f"almost {secret[:6]}-not-it {MARKER}" in output
    if "-n" not in capture:  # an xdist worker's descriptor 1 is not the terminal
        assert f"fd1 [REDACTED] {MARKER}" in output
        assert "child [REDACTED]" in output
        assert f"split [REDACTED] {MARKER}" in output


RECORDED = f"""
def test_worker_said(api, component_check):
    echoed = api.get("/echo").json()["echo"]   # the target echoes its token
    component_check(
        "worker", "pass", observed={{"said": "token " + echoed, "marker": "{MARKER}"}},
        message="worker saw " + echoed,
    )
"""


def test_evidence_a_test_recorded_itself_is_redacted_in_junitxml(
    project, echo_url, monkeypatch, mode
):
    """The evidence each test's report carries (the ``deployverify`` property junitxml writes,
    and what an xdist worker sends) is redacted: a check's and a request's values are
    redacted when recorded, but not what a test hands to ``component_check`` itself."""
    secret = _echo_project(project, echo_url, monkeypatch)
    project.tests(RECORDED)
    result = project.run("--junitxml=junit.xml", *mode)
    result.assert_outcomes(passed=1)
    junit = (project.pytester.path / "junit.xml").read_text(encoding="utf-8")
    assert 'name="deployverify"' in junit
    assert "token [REDACTED]" in junit and "worker saw [REDACTED]" in junit
    assert MARKER in junit
    verdict = (project.pytester.path / "reports" / "verdict.json").read_text(encoding="utf-8")
    assert "worker saw [REDACTED]" in verdict
    for shown in (junit, verdict, result.stdout.str()):
        assert secret not in shown


TWO_SECRETS = """
import os

import pytest

TOKENS = [os.environ["DV_ECHO_TOKEN"], os.environ["DV_OTHER_TOKEN"]]


@pytest.mark.parametrize("token", TOKENS, ids=TOKENS)
def test_each_token(target, component_check, token):
    component_check("worker", "pass", observed={"token": token})
"""


def test_tests_whose_ids_differ_by_a_secret_stay_two_tests(project, echo_url, monkeypatch, mode):
    """The evidence a worker sends is redacted, its node id is not (pytest shows node ids
    anyway): the controller counts two tests whose ids are two different secrets as two."""
    other = f"zq{uuid.uuid4().hex}"
    secret = _echo_project(project, echo_url, monkeypatch, other=other)
    project.tests(TWO_SECRETS)
    result = project.run(*mode)
    result.assert_outcomes(passed=2)
    verdict = json.loads((project.pytester.path / "reports" / "verdict.json").read_text())
    assert verdict["counts"]["tests"] == 2 and verdict["counts"]["checks"] == 2
    shown = json.dumps(verdict)
    assert secret not in shown and other not in shown


NO_TARGET = f"""
import os


def test_without_the_target(component_check):
    token = os.environ["DV_ECHO_TOKEN"]   # the environment's secret, read by the test itself
    component_check("worker", "fail", message="worker logged in with " + token)
    print("stdout has", token, "{MARKER}")
    assert token == "{MARKER}", "the worker used " + token
"""


def test_a_session_without_a_target_still_redacts_the_environments_secrets(
    project, echo_url, monkeypatch, mode
):
    """No test needs the target, so none is resolved: the selected environment's secrets
    are redacted all the same, from the evidence, the verdict and pytest's own output."""
    secret = _echo_project(project, echo_url, monkeypatch)
    project.tests(NO_TARGET)
    result = project.run("-rA", "--junitxml=junit.xml", "-o", "junit_logging=all", *mode)
    result.assert_outcomes(failed=1)
    output = result.stdout.str() + result.stderr.str()
    junit = (project.pytester.path / "junit.xml").read_text(encoding="utf-8")
    verdict = (project.pytester.path / "reports" / "verdict.json").read_text(encoding="utf-8")
    assert "the worker used [REDACTED]" in output
    assert "worker logged in with [REDACTED]" in verdict
    assert "worker logged in with [REDACTED]" in junit
    for shown in (output, junit, verdict):
        assert secret not in shown
    assert MARKER in output and MARKER in junit


PATTERN = f"""
def test_prints_a_token(target):
    print("the target sent Bearer eyJhbGciOi.abcdefghijklmnop.qrstuvwx {MARKER}")
    assert False, "it said Bearer abcdefghijklmnopqrstuvwx"
"""


def test_credential_looking_text_is_redacted_with_a_target_that_has_no_secrets(
    project, echo_url, mode
):
    """A target configured without secrets: what looks like a credential (a bearer token
    the target sent) is still taken out of pytest's output."""
    _echo_pyproject(project, echo_url)  # no secrets
    project.tests(PATTERN)
    result = project.run("-rA", "--junitxml=junit.xml", *mode)
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    junit = (project.pytester.path / "junit.xml").read_text(encoding="utf-8")
    for shown in (output, junit):
        assert "abcdefghijklmnop" not in shown
    assert "it said Bearer [REDACTED]" in output
    assert MARKER in output

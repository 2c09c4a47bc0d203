"""The deployment's version is read once at activation and shown in the verdict file.

It is provenance (which build was verified), so a target without a version endpoint gets
``null``, never an error; secrets in the answer are redacted like everywhere else.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from plugin_support import loopback_server

SHOW = """
def test_version(target):
    print("VERSION", target.deployment_version)
"""


def test_docservice_version_reaches_the_verdict(project, docservice, monkeypatch, mode):
    project.docservice(docservice, monkeypatch)
    project.tests(SHOW)
    result = project.run("-s", *mode) if not mode else project.run(*mode)
    result.assert_outcomes(passed=1)
    verdict = json.loads((project.pytester.path / "reports" / "verdict.json").read_text())
    version = verdict["target"]["deployment_version"]
    assert version["service"] == "docservice"
    assert version["config_fingerprint"]["embedding_dimensions"] == 1536
    assert docservice.token not in json.dumps(verdict)


def test_no_version_endpoint_is_null_not_an_error(project, alt):
    # the alt service has no /version: provenance is simply unknown
    project.alt(alt)
    project.tests(SHOW)
    result = project.run("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*VERSION None*"])


def test_version_path_can_be_turned_off(project, docservice, monkeypatch):
    project.docservice(docservice, monkeypatch, extra_env='version_path = ""')
    project.tests(SHOW)
    result = project.run("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*VERSION None*"])


class _SlowVersion(BaseHTTPRequestHandler):
    """``/version`` answers only once a test has asked for ``/release`` (bounded)."""

    released = threading.Event()

    def do_GET(self) -> None:
        if self.path == "/release":
            self.released.set()
        elif self.path == "/version":
            self.released.wait(60)
        body = json.dumps({"service": "slow-version", "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        cid = self.headers.get("X-Correlation-ID")
        if cid:
            self.send_header("X-Correlation-ID", cid)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_version_url() -> Iterator[str]:
    _SlowVersion.released.clear()
    with loopback_server(_SlowVersion) as url:
        try:
            yield url
        finally:
            _SlowVersion.released.set()


def test_version_is_read_while_the_tests_start(project, slow_version_url):
    """The version read does not hold the tests back: the first test runs while /version has
    not answered (and makes it answer); the verdict and the ``target`` fixture still get it.
    Read before the tests, it would wait out the read timeout and the version would be null."""
    project.pyproject(
        f"""
        [tool.deployverify]
        default_env = "slow"

        [tool.deployverify.envs.slow]
        base_url = "{slow_version_url}"
        read_timeout = 20
        """
    )
    project.tests(
        """
        def test_a_first(api):
            assert api.get("/release").status_code == 200


        def test_b_version(target):
            print("VERSION", target.deployment_version["service"])
        """
    )
    result = project.run("-s", "--probe-timeout=20")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*VERSION slow-version*"])
    verdict = json.loads((project.pytester.path / "reports" / "verdict.json").read_text())
    assert verdict["target"]["deployment_version"] == {
        "service": "slow-version",
        "path": "/version",
    }

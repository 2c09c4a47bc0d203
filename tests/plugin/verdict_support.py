"""Helpers for the verdict component's pytester tests: a stand-in baseline session, a webhook
receiver on loopback, schema validation of verdict files."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema

from pytest_deployverify import verdict_document as verdict_module

#: conftest for an inner project: when ``fake_baseline.json`` exists in its rootdir, the
#: session's real ``BaselineSession`` answers the baseline <-> verdict contract
#: (docs/architecture.md) with that file's data on top of its own. Lets every verdict path
#: (missing baseline, unverified observations, timing samples) be driven without recording
#: real baselines first.
FAKE_BASELINE_CONFTEST = """
import json
import os

import pytest

from pytest_deployverify.session import current


def _patch(baseline, data):
    accounting = baseline.accounting
    identity = baseline.identity
    baseline.accounting = lambda: {**accounting(), **data.get("accounting", {})}
    baseline.baseline_timings = lambda nodeids: data.get("timings", {})
    baseline.identity = lambda: {**identity(), **data.get("identity", {})}


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session):
    # a wrapper runs before every plain sessionfinish hook: the baseline component's and the
    # verdict's both see the patched session
    path = os.path.join(str(session.config.rootpath), "fake_baseline.json")
    if not hasattr(session.config, "workerinput") and os.path.exists(path):
        with open(path) as fh:
            _patch(current(session.config).baseline, json.load(fh))
    return (yield)
"""


def write_fake_baseline(directory: Path, **data: Any) -> None:
    (directory / "fake_baseline.json").write_text(json.dumps(data))


def load_verdict(path: Path) -> dict[str, Any]:
    """Read a verdict file and validate it against the shipped JSON Schema."""
    data = json.loads(Path(path).read_text("utf-8"))
    jsonschema.Draft202012Validator(verdict_module.schema()).validate(data)
    return data


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with self.server.lock:
            self.server.received.append(json.loads(body))
            status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/services/T000/B000/XXXXsecretpath"

    def kinds(self) -> list[str]:
        with self.lock:
            return [p["deployverify"]["kind"] for p in self.received]


@contextmanager
def webhook_receiver() -> Iterator[_Receiver]:
    """A Slack-like incoming-webhook receiver on loopback; records every JSON body."""
    server = _Receiver()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def dead_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


#: what the stage server's /version answers (the verdict shows it as the deployment version)
STAGE_VERSION = '{"service": "stage", "version": "9.9.9"}'


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        if self.path == "/version":
            self.wfile.write(STAGE_VERSION.encode())
        else:
            self.wfile.write(b'{"status": "healthy"}')

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def health_server() -> Iterator[str]:
    """A loopback server answering 200 to every GET (its version on /version): a reachable target."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

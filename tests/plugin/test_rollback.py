"""The rollback gate: the command runs bounded, the critical checks are re-run, and the verdict
file says whether baseline behaviour was restored.

The end-to-end test runs real docservice deployments behind a loopback reverse proxy (a test
stand-in for a load balancer) so the target URL stays the same across the restart: the
faulty deployment fails a critical check, the rollback script stops it, starts a clean one and
repoints the proxy, and the re-check passes.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from verdict_support import load_verdict

import pytest_deployverify.rollback  # noqa: F401  (imported before inner runs, see conftest)

# ---------------------------------------------------------------- mechanism, no deployment

CRITICAL_NEEDS_FILE = """
import pathlib, pytest
@pytest.mark.critical
def test_restored():
    assert pathlib.Path("restored.flag").exists(), "deployment still faulty"
def test_other(): pass
"""


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    pytester.makepyfile(test_inner=CRITICAL_NEEDS_FILE)
    result = pytester.runpytest("-p", "no:cacheprovider", "--verdict-file", "v.json", *args)
    return result, load_verdict(pytester.path / "v.json")


def py(code: str) -> str:
    """A shell command running ``code`` with this interpreter."""
    return f'{sys.executable} -c "{code}"'


def test_rollback_that_restores_is_recorded_as_restored(pytester: pytest.Pytester) -> None:
    cmd = py("import pathlib; pathlib.Path('restored.flag').touch(); print('rolled back')")
    result, data = run(pytester, "--rollback-cmd", cmd, "--rollback-timeout", "60")
    assert data["verdict"] == "fail"  # the candidate failed; the rollback does not change that
    rb = data["rollback"]
    assert (rb["exit_code"], rb["timed_out"], rb["restored"]) == (0, False, True)
    assert "rolled back" in rb["output_tail"]
    assert rb["recheck"]["verdict"] == "pass"
    assert (rb["recheck"]["passed"], rb["recheck"]["failed"]) == (1, 0)
    assert rb["recheck"]["paths"] == ["test_inner.py"]
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*rollback: command exited 0 in *; critical re-check pass (1 passed, 0 failed); baseline behaviour restored"
        ]
    )


def test_rollback_that_does_not_restore_says_so_and_runs_once(pytester: pytest.Pytester) -> None:
    cmd = py("open('calls.txt', 'a').write('x')")
    result, data = run(pytester, "--rollback-cmd", cmd, "--rollback-timeout", "60")
    rb = data["rollback"]
    assert rb["restored"] is False
    assert rb["recheck"]["verdict"] == "fail" and rb["recheck"]["failed"] == 1
    # the re-check itself failed, but it never rolls back again (no recursion)
    assert (pytester.path / "calls.txt").read_text() == "x"
    result.stdout.fnmatch_lines(["*rollback: command exited 0*NOT restored"])


def test_failing_rollback_command_skips_the_recheck(pytester: pytest.Pytester) -> None:
    _, data = run(pytester, "--rollback-cmd", py("import sys; print('no access'); sys.exit(3)"))
    rb = data["rollback"]
    assert (rb["exit_code"], rb["recheck"], rb["restored"]) == (3, None, False)
    assert "no access" in rb["output_tail"]
    assert "did not succeed" in rb["note"]


def test_rollback_command_is_bounded_by_the_timeout(pytester: pytest.Pytester) -> None:
    started = time.monotonic()
    _, data = run(
        pytester, "--rollback-cmd", py("import time; time.sleep(60)"), "--rollback-timeout", "0.5"
    )
    rb = data["rollback"]
    assert (rb["timed_out"], rb["exit_code"], rb["restored"]) == (True, None, False)
    assert rb["error"] == "timed out after 0.5 s"
    assert time.monotonic() - started < 30  # killed, not waited for


def test_no_rollback_when_the_verdict_is_not_fail(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("restored.flag").touch()
    _, data = run(pytester, "--rollback-cmd", py("open('calls.txt', 'a').write('x')"))
    assert data["verdict"] == "pass" and data["rollback"] is None
    assert not (pytester.path / "calls.txt").exists()


def test_rollback_output_is_redacted(pytester: pytest.Pytester) -> None:
    cmd = py("print('Authorization: Bearer abcdef0123456789secret')")
    _, data = run(pytester, "--rollback-cmd", cmd)
    assert "abcdef0123456789secret" not in json.dumps(data)


# ---------------------------------------------------------------- end to end with docservice

needs_docservice = pytest.mark.skipif(
    importlib.util.find_spec("docservice") is None or importlib.util.find_spec("fastapi") is None,
    reason="docservice (the [docservice] extra) is not installed",
)


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, control: Path) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.control = control

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    """Forwards each request to the backend named in the control file (read per request)."""

    server: _Proxy

    def _forward(self) -> None:
        backend = urlsplit(self.server.control.read_text().strip())
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn = http.client.HTTPConnection(backend.hostname, backend.port, timeout=15)
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        except OSError as exc:
            self.send_error(502, f"backend unreachable: {exc}")
            return
        finally:
            conn.close()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in (
                "transfer-encoding",
                "connection",
                "content-length",
                "server",
                "date",
            ):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


ROLLBACK_SCRIPT = """
# Rollback for the test: stop the faulty deployment, start a clean one, repoint the proxy.
import json, os, pathlib, signal, subprocess, sys, time

here = pathlib.Path(__file__).parent
faulty = int((here / "faulty.pid").read_text())
try:
    os.killpg(faulty, signal.SIGTERM)
except ProcessLookupError:
    pass
ready = here / "clean-ready.json"
with open(here / "clean.log", "wb") as log:
    proc = subprocess.Popen(
        [sys.executable, "-m", "docservice", "up", "--ready-file", str(ready)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
(here / "clean.pid").write_text(str(proc.pid))
deadline = time.monotonic() + 60
while not ready.exists():
    if time.monotonic() > deadline or proc.poll() is not None:
        sys.exit("clean deployment did not become ready; see clean.log")
    time.sleep(0.05)
api = json.loads(ready.read_text())["api_url"]
tmp = here / "backend.tmp"
tmp.write_text(api)
os.replace(tmp, here / "backend")
print("rolled back: proxy now points at a clean deployment")
"""

DOCSERVICE_TESTS = """
import pytest

@pytest.mark.critical
def test_deployment_is_healthy(api):
    response = api.get("/health")
    assert response.status_code == 200, f"health is {response.status_code}: {response.text[:200]}"

def test_version_answers(api):
    assert api.get("/version").status_code == 200
"""


def _start_launcher(
    directory: Path, name: str, *faults: str
) -> tuple[subprocess.Popen[bytes], str]:
    ready = directory / f"{name}-ready.json"
    args = [sys.executable, "-m", "docservice", "up", "--ready-file", str(ready)]
    for fault in faults:
        args += ["--fault", fault]
    with open(directory / f"{name}.log", "wb") as log:
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            _stop_group(proc.pid, proc)
            pytest.fail(
                f"docservice did not start: {(directory / f'{name}.log').read_text()[-2000:]}"
            )
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())["api_url"]


def _stop_group(pid: int, proc: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM the process group, SIGKILL it after 10 s. ``proc`` (our own child) is reaped;
    a group whose leader is not our child is polled until it is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    if proc is not None:
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            pass
    deadline = time.monotonic() + 10
    while proc is None and time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


@pytest.fixture
def faulty_deployment_behind_proxy(pytester: pytest.Pytester) -> Iterator[_Proxy]:
    """A docservice deployment with the worker_down fault behind a loopback reverse proxy whose
    backend is read from ``pytester.path / "backend"``; both stopped at teardown (and the clean
    deployment the rollback script starts)."""
    directory = Path(pytester.path)
    proc, api_url = _start_launcher(directory, "faulty", "worker_down")
    (directory / "faulty.pid").write_text(str(proc.pid))
    (directory / "backend").write_text(api_url)
    proxy = _Proxy(directory / "backend")
    thread = threading.Thread(
        target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(5)
        _stop_group(proc.pid, proc)
        clean = directory / "clean.pid"
        if clean.exists():
            _stop_group(int(clean.read_text()))


@needs_docservice
@pytest.mark.slow
def test_rollback_end_to_end_restores_a_faulty_deployment(
    pytester: pytest.Pytester, faulty_deployment_behind_proxy: _Proxy
) -> None:
    proxy = faulty_deployment_behind_proxy
    pytester.makefile(
        ".toml",
        pyproject=textwrap.dedent(
            f"""
            [tool.deployverify]
            default_env = "staging"

            [tool.deployverify.envs.staging]
            base_url = "{proxy.url}"
            """
        ),
    )
    pytester.makepyfile(test_inner=DOCSERVICE_TESTS)
    (pytester.path / "rollback_script.py").write_text(ROLLBACK_SCRIPT)
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--verdict-file",
        "v.json",
        "--rollback-cmd",
        f"{sys.executable} rollback_script.py",
        "--rollback-timeout",
        "90",
    )
    data = load_verdict(pytester.path / "v.json")
    # the faulty candidate failed its critical check and is reported so
    assert (data["verdict"], data["recommendation"]) == ("fail", "roll_back")
    assert data["reason"].startswith(
        "Critical test test_inner.py::test_deployment_is_healthy failed (AssertionError: health is 503"
    )
    assert data["target"]["base_url"] == proxy.url
    # the rollback ran, the re-check of the critical test against the same URL passed
    rb = data["rollback"]
    assert rb["exit_code"] == 0, rb["output_tail"]
    assert "rolled back" in rb["output_tail"]
    assert rb["recheck"]["verdict"] == "pass", rb["recheck"]["output_tail"]
    assert (rb["recheck"]["passed"], rb["recheck"]["failed"]) == (1, 0)
    assert rb["restored"] is True
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*deployverify verdict: FAIL -> roll back: Critical test*",
            "*rollback: command exited 0*baseline behaviour restored",
        ]
    )
    # and the clean deployment really is what the proxy serves now
    with contextlib.closing(
        http.client.HTTPConnection("127.0.0.1", proxy.server_address[1], timeout=10)
    ) as conn:
        conn.request("GET", "/health")
        assert conn.getresponse().status == 200

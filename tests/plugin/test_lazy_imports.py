"""A run's fixed cost: a session loads the modules of the features its tests use, not every
feature's (ADR 40). Importing requests alone cost more CPU than a thousand small tests' own
work; the reference, replay, recording, live-comparison and timing-judge modules each bring
their own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

#: loaded only by the features that need them
FEATURE_MODULES = (
    "requests",  # the api client
    "pytest_deployverify.client",
    "pytest_deployverify.reference",  # --reference-url / --reference-env
    "pytest_deployverify.baseline.live",
    "pytest_deployverify.replay",  # replays of a failed test's requests
    "pytest_deployverify.pipeline_run",  # upload_document
    "pytest_deployverify.judge",  # timings: the judge and its statistics
    "pytest_deployverify.rank_tests",
    "pytest_deployverify.sequential",
    "pytest_deployverify.timing_history",  # --timing-history
)
RECORDING_MODULES = ("pytest_deployverify.baseline.recording", "pytest_deployverify.baseline.learn")


@pytest.fixture
def target_url() -> Iterator[str]:
    """A loopback target answering its health and version paths."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = b'{"version": "7.1"}' if self.path == "/version" else b"{}"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.parametrize("mode", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_checks_and_plain_tests_load_no_feature_they_do_not_use(
    pytester: pytest.Pytester, target_url: str, mode: list[str]
) -> None:
    """Plain tests, the target's version and baseline checks, recorded then compared: no
    process (the xdist controller and each worker) loads requests or another feature's
    module, and a comparison loads none of the recording's."""
    pytester.makepyprojecttoml(
        f"""
        [tool.deployverify.envs.local]
        base_url = "{target_url}"
        """
    )
    watched = (*FEATURE_MODULES, *RECORDING_MODULES)
    pytester.makeconftest(
        f"""
        import sys

        def pytest_sessionfinish(session):  # every process: the controller and each worker
            loaded = [m for m in {watched!r} if m in sys.modules]
            with open(session.config.rootpath / "loaded.txt", "a") as out:
                out.write(" ".join(loaded) + "\\n")
        """
    )
    pytester.makepyfile(
        test_inner="""
        def test_plain():
            pass

        def test_version(target):
            assert target.deployment_version == {"version": "7.1"}

        def test_check(baseline):
            baseline.check("value", {"id": 1, "status": "complete"})
        """
    )
    loaded = pytester.path / "loaded.txt"
    processes = 3 if mode else 1
    for record in (True, False):
        loaded.unlink(missing_ok=True)
        args = ["--record-baseline", "--record-runs", "1"] if record else []
        result = pytester.runpytest_subprocess("--target-env", "local", *args, *mode)
        result.assert_outcomes(passed=3)
        lines = loaded.read_text().splitlines()
        assert len(lines) == processes
        for line in lines:
            modules = set(line.split())
            assert not modules.intersection(FEATURE_MODULES), line
            if not record:
                assert not modules.intersection(RECORDING_MODULES), line


def test_the_watch_sees_a_feature_that_is_used(pytester: pytest.Pytester, target_url: str) -> None:
    """The same watch, on a test that uses the api client: requests and the client load (the
    check above could not pass by watching the wrong names)."""
    pytester.makepyprojecttoml(
        f"""
        [tool.deployverify.envs.local]
        base_url = "{target_url}"
        correlation = {{ echo = "off" }}
        """
    )
    pytester.makeconftest(
        f"""
        import sys

        def pytest_sessionfinish(session):
            loaded = [m for m in {FEATURE_MODULES!r} if m in sys.modules]
            (session.config.rootpath / "loaded.txt").write_text(" ".join(loaded))
        """
    )
    pytester.makepyfile(
        test_inner="""
        def test_api(api):
            assert api.get("/version").status_code == 200
        """
    )
    result = pytester.runpytest_subprocess("--target-env", "local")
    result.assert_outcomes(passed=1)
    modules = set((pytester.path / "loaded.txt").read_text().split())
    assert {"requests", "pytest_deployverify.client", "pytest_deployverify.replay"} <= modules

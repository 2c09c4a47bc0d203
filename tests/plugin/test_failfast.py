"""--fail-fast: once a test proves the pipeline broken (a stalled job) or the target unreachable
(consecutive timeouts), later tests needing it end at once as "not run" and the verdict names
the first proof. Off: every test waits out its own timeouts, as before.

Deployments: docservice with the ``stall_at`` fault (one per module), and a tiny loopback
server of another shape that answers ``/health`` but never anything else.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from plugin_support import launched_docservice, loopback_server

from pytest_deployverify.failfast import Breaker, Proof


@pytest.fixture(scope="module")
def stalled_ds() -> Iterator[object]:
    with launched_docservice("--fault", "stall_at=embeddings_stored", name="failfast-stall") as ds:
        yield ds


@pytest.fixture(scope="module")
def workerless_ds() -> Iterator[object]:
    """A deployment whose worker never runs (the origin incident): API and health answer."""
    with launched_docservice("--fault", "worker_down", name="failfast-no-worker") as ds:
        yield ds


#: a deployment proven broken by its canary -> the status the canary is left at
BROKEN = {
    "stalled_ds": "embeddings_stored",  # jobs stop silently before 'complete'
    "workerless_ds": "uploaded",  # only the worker fails: it never runs
}


@pytest.fixture(params=sorted(BROKEN))
def broken(request: pytest.FixtureRequest) -> tuple[object, str]:
    """(deployment, the status its canary stalls at)."""
    return request.getfixturevalue(request.param), BROKEN[request.param]


class _Hanging(BaseHTTPRequestHandler):
    release = threading.Event()

    def do_GET(self) -> None:
        if self.path == "/health":
            body = b'{"status": "ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.release.wait(60)  # hangs until the test is over (bounded)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def hanging_url() -> Iterator[str]:
    with loopback_server(_Hanging) as url:
        try:
            yield url
        finally:
            _Hanging.release.set()


# the proof is made in one file; the later file waits until it is made (a flag file, bounded),
# so under -n 2 --dist loadfile the later tests run after the proof whichever worker they
# landed on
PROOF_WAIT = """
import time
from pathlib import Path

FLAG = Path(__file__).parent / "proved.flag"


def test_0_wait_for_the_proof():
    end = time.monotonic() + 120
    while not FLAG.exists() and time.monotonic() < end:
        time.sleep(0.05)
    assert FLAG.exists()
"""


def _dist(mode: list[str]) -> list[str]:
    # whole files per worker: the later file's tests run in order, after its wait
    return [*mode, "--dist", "loadfile"] if mode else []


def _verdict(project_dir: Path) -> dict[str, object]:
    return json.loads((project_dir / "verdict.json").read_text(encoding="utf-8"))


def _outcomes(result: pytest.RunResult) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for rep in result.reprec.getreports("pytest_runtest_logreport"):  # type: ignore[attr-defined]
        name = rep.nodeid.split("::")[-1]
        if rep.failed or rep.skipped or (rep.when == "call" and name not in out):
            longrepr = rep.longrepr
            text = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr or "")
            if name not in out or out[name][0] == "passed":
                out[name] = (rep.outcome, text)
    return out


def _stall_project(project, ds, monkeypatch, pdf: str) -> None:
    project.docservice(ds, monkeypatch)
    project.tests(
        f"""
        from pathlib import Path

        FLAG = Path(__file__).parent / "proved.flag"


        def test_canary(upload_document):
            try:
                upload_document({pdf!r}).raise_for_outcome()
            finally:
                FLAG.write_text("done")
        """,
        name="test_a_proof",
    )
    project.tests(
        PROOF_WAIT
        + f"""

def test_later_upload(upload_document):
    upload_document({pdf!r}).raise_for_outcome()


def test_health_still_runs(api):
    assert api.get("/health").status_code in (200, 503)


def test_no_deployment_needed():
    pass
""",
        name="test_b_later",
    )


def test_stalled_pipeline_ends_later_uploads(project, broken, monkeypatch, mode, small_pdf):
    """A stall, or a worker that never runs (the canary never leaves 'uploaded'), proves the
    pipeline broken: later uploads end at once, target-only tests still run."""
    ds, stalled_at = broken
    _stall_project(project, ds, monkeypatch, small_pdf)
    result = project.run("--stall-timeout=1", "--verdict-file=verdict.json", *_dist(mode))
    outcomes = _outcomes(result)
    assert outcomes["test_canary"][0] == "failed"
    assert f"ended 'stalled' (final status {stalled_at!r}" in outcomes["test_canary"][1]
    state, text = outcomes["test_later_upload"]
    assert state == "skipped"
    assert "not run: pipeline proven broken by test_a_proof.py::test_canary, correlation ID" in text
    # the target answers: tests needing only the target still run
    assert "test_health_still_runs" not in outcomes or outcomes["test_health_still_runs"][0] == (
        "passed"
    )
    verdict = _verdict(project.pytester.path)
    assert verdict["verdict"] == "fail"
    assert str(verdict["reason"]).startswith(
        "Pipeline proven broken by test_a_proof.py::test_canary, correlation ID"
    )


def test_fail_fast_off_keeps_every_upload_waiting(project, broken, monkeypatch, small_pdf):
    ds, stalled_at = broken
    _stall_project(project, ds, monkeypatch, small_pdf)
    result = project.run("--stall-timeout=1", "--verdict-file=verdict.json", "--fail-fast=off")
    outcomes = _outcomes(result)
    assert outcomes["test_later_upload"][0] == "failed"
    assert f"ended 'stalled' (final status {stalled_at!r}" in outcomes["test_later_upload"][1]
    assert "proven broken" not in result.stdout.str()
    assert not str(_verdict(project.pytester.path)["reason"]).startswith("Pipeline proven")


def _hanging_pyproject(project, url: str, extra: str = "") -> None:
    project.pyproject(
        f"""
        [tool.deployverify]
        default_env = "local"

        [tool.deployverify.envs.local]
        base_url = "{url}"
        read_timeout = 0.3
        {extra}
        """
    )


def _hanging_project(project, url: str) -> None:
    _hanging_pyproject(project, url)
    project.tests(
        """
        from pathlib import Path

        FLAG = Path(__file__).parent / "proved.flag"


        def test_first(api):
            try:
                api.get("/items")
            finally:
                FLAG.write_text("done")
        """,
        name="test_a_proof",
    )
    project.tests(
        PROOF_WAIT
        + """

def test_second(api):
    api.get("/items/1")


def test_no_deployment_needed():
    pass
""",
        name="test_b_later",
    )


def test_hanging_target_ends_later_tests(project, hanging_url, mode):
    _hanging_project(project, hanging_url)
    result = project.run("--verdict-file=verdict.json", *_dist(mode))
    outcomes = _outcomes(result)
    assert outcomes["test_first"][0] == "failed"
    assert "imeout" in outcomes["test_first"][1]
    state, text = outcomes["test_second"]
    assert state == "skipped"
    assert "not run: target proven unreachable by test_a_proof.py::test_first" in text
    # the proof names how many requests in a row went unanswered: at least the threshold
    # (2). The session's background version read counts too, and whether its timeout lands
    # before or after test_first's first one depends on the machine's load (2 or 3)
    counted = re.search(r"(\d+) consecutive requests got no answer", text)
    assert counted is not None, text
    assert int(counted.group(1)) >= 2, text
    assert "test_no_deployment_needed" not in outcomes or (
        outcomes["test_no_deployment_needed"][0] == "passed"
    )
    verdict = _verdict(project.pytester.path)
    assert verdict["verdict"] == "fail"
    assert str(verdict["reason"]).startswith(
        "Target proven unreachable by test_a_proof.py::test_first, correlation ID"
    )


@pytest.mark.parametrize("version_path", ["/version", ""], ids=["version-read", "no-version"])
def test_version_read_at_start_counts_towards_the_proof(project, hanging_url, version_path):
    """The version read at session start that got no answer is the first of the consecutive
    errors: one timed-out request of the first test completes the proof. Without that read
    (no version path), one timeout is not yet a proof and the later test runs."""
    _hanging_pyproject(project, hanging_url, f'version_path = "{version_path}"')
    project.tests(
        """
        def test_first(target, api):
            # the target fixture waits for the version read: it has failed before this POST
            # (not retried: one request, one timeout)
            api.post("/items", json={})


        def test_second(api):
            api.get("/items/1")
        """,
        name="test_a_proof",
    )
    result = project.run("--verdict-file=verdict.json")
    outcomes = _outcomes(result)
    assert outcomes["test_first"][0] == "failed"
    state, text = outcomes["test_second"]
    if version_path:
        assert state == "skipped", outcomes
        assert "not run: target proven unreachable by test_a_proof.py::test_first" in text
        assert "2 consecutive requests got no answer" in text
    else:
        assert state == "failed", outcomes
        assert "imeout" in text


def test_hanging_target_fail_fast_off(project, hanging_url):
    _hanging_project(project, hanging_url)
    result = project.run("--verdict-file=verdict.json", "--fail-fast=off")
    outcomes = _outcomes(result)
    assert outcomes["test_second"][0] == "failed"
    assert "imeout" in outcomes["test_second"][1]
    assert "proven unreachable" not in result.stdout.str()


# A job that ends in a failure status the profile lists in fail_fast_statuses. docservice: the
# session's shared deployment, fed a file that passes the upload's PDF check but that its parser
# refuses (the worker writes failed_parse); the alt service: an upload asking to end BROKEN.
FAILING_UPLOAD = {
    "docservice": "upload_document(BAD_PDF)",
    "alt": 'upload_document({pdf!r}, metadata={{"behaviour": "fail"}})',
}
PROOF_STATUS = {"docservice": "failed_parse", "alt": "BROKEN"}


def _failure_project(project, service: str, target, monkeypatch, pdf: str, listed: bool) -> None:
    status = PROOF_STATUS[service]
    # an environment's own pipeline table, laid over the global one
    extra = f"pipeline = {{ fail_fast_statuses = [{status!r}] }}" if listed else ""
    if service == "docservice":
        project.docservice(target, monkeypatch, extra_env=extra)
    else:
        project.alt(target, extra_env=extra)
    bad = project.pytester.path / "not-parseable.pdf"
    # unique bytes: a duplicate of an earlier run's document would not be followed anew
    bad.write_bytes(b"%PDF-1.4\n" + uuid.uuid4().hex.encode() * 64)
    project.tests(
        f"""
        from pathlib import Path

        FLAG = Path(__file__).parent / "proved.flag"
        BAD_PDF = {str(bad)!r}


        def test_canary(upload_document):
            run = {FAILING_UPLOAD[service].format(pdf=pdf)}
            FLAG.write_text(run.correlation_id)
            run.raise_for_outcome()
        """,
        name="test_a_proof",
    )
    project.tests(
        PROOF_WAIT
        + f"""

def test_later_upload(upload_document):
    upload_document({pdf!r}, filename="later.pdf").raise_for_outcome()
""",
        name="test_b_later",
    )


@pytest.mark.parametrize("service", ["docservice", "alt"])
def test_listed_failure_status_proves_the_pipeline_broken(
    project, service, request, monkeypatch, mode, small_pdf
):
    """A job ending in a status of ``fail_fast_statuses`` is the proof: the later upload is not
    run, and the proof names the test, the status and the job's correlation ID."""
    target = request.getfixturevalue("docservice" if service == "docservice" else "alt")
    _failure_project(project, service, target, monkeypatch, small_pdf, listed=True)
    result = project.run("--verdict-file=verdict.json", *_dist(mode))
    outcomes = _outcomes(result)
    status = PROOF_STATUS[service]
    assert outcomes["test_canary"][0] == "failed", outcomes
    cid = (project.pytester.path / "proved.flag").read_text()
    state, text = outcomes["test_later_upload"]
    assert state == "skipped", outcomes
    assert (
        f"not run: pipeline proven broken by test_a_proof.py::test_canary, correlation ID {cid}: "
        f"job ended in {status!r}" in text
    ), text
    verdict = _verdict(project.pytester.path)
    assert verdict["verdict"] == "fail"
    assert str(verdict["reason"]).startswith(
        f"Pipeline proven broken by test_a_proof.py::test_canary, correlation ID {cid}: "
        f"job ended in {status!r}"
    ), verdict["reason"]


@pytest.mark.parametrize(
    ("service", "listed", "option"),
    [("docservice", False, ()), ("alt", False, ()), ("alt", True, ("--fail-fast=off",))],
    ids=["docservice-not-listed", "alt-not-listed", "alt-fail-fast-off"],
)
def test_failure_status_not_listed_or_fail_fast_off_proves_nothing(
    project, service, listed, option, request, monkeypatch, small_pdf
):
    """A failure status the profile does not list (the default: a test may upload a document
    that must fail), or fail fast turned off: the later upload runs and completes."""
    target = request.getfixturevalue("docservice" if service == "docservice" else "alt")
    _failure_project(project, service, target, monkeypatch, small_pdf, listed=listed)
    result = project.run("--verdict-file=verdict.json", *option)
    outcomes = _outcomes(result)
    assert outcomes["test_canary"][0] == "failed"
    assert PROOF_STATUS[service] in outcomes["test_canary"][1]
    assert outcomes["test_later_upload"][0] == "passed", outcomes
    assert "proven broken" not in result.stdout.str()
    assert not str(_verdict(project.pytester.path)["reason"]).startswith("Pipeline proven")


def test_healthy_service_of_another_shape_skips_nothing(project, alt, small_pdf):
    project.alt(alt)
    project.tests(
        f"""
        def test_one(upload_document):
            upload_document({small_pdf!r}).raise_for_outcome()


        def test_two(upload_document, api):
            upload_document({small_pdf!r}, filename="two.pdf").raise_for_outcome()
            assert api.get("/healthz").ok
        """
    )
    result = project.run("--fail-fast-errors=1")
    result.assert_outcomes(passed=2)


def test_an_answer_ends_the_error_run():
    """Only consecutive errors count: any answer starts the count again."""
    breaker = Breaker(enabled=True, errors=2, directory=None)
    breaker.request_failed(None, "cid-1", "ReadTimeout")
    breaker.answered()
    breaker.request_failed(None, "cid-1", "ReadTimeout")
    assert breaker.proof() is None
    breaker.request_failed(None, "cid-2", "ConnectionError")
    proof = breaker.proof()
    assert proof is not None and proof.kind == "target" and proof.correlation_id == "cid-2"


def test_a_request_of_no_test_counts_but_never_proves():
    """The version read at session start counts towards the consecutive errors; the proof is
    the next failing request of a test, which names it."""
    breaker = Breaker(enabled=True, errors=1, directory=None)
    breaker.request_failed(None, "", "GET /version at session start: ReadTimeout", proves=False)
    assert breaker.proof() is None
    breaker.request_failed(None, "cid-1", "ReadTimeout")
    proof = breaker.proof()
    assert proof is not None and proof.correlation_id == "cid-1"
    assert proof.detail.startswith("2 consecutive requests got no answer")


def test_first_proof_wins_across_processes(tmp_path):
    """Two workers' breakers share the marker directory: the second adopts the first's proof."""
    one = Breaker(enabled=True, errors=1, directory=tmp_path)
    two = Breaker(enabled=True, errors=1, directory=tmp_path)
    one.run_ended(None, "cid-1", "stalled", "stalled at parse_queued")
    two.request_failed(None, "cid-2", "ReadTimeout")
    assert two.proof() == Proof("pipeline", "", "cid-1", "stalled at parse_queued")
    # a pipeline proof does not stop tests that need only the target
    assert two.blocking("target") is None and two.blocking("pipeline") is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fail-fast=maybe",), "--fail-fast / ini deployverify_fail_fast = 'maybe' must be"),
        (("--fail-fast-errors=0",), "--fail-fast-errors / ini deployverify_fail_fast_errors = 0"),
    ],
)
def test_bad_values_are_one_clear_error(project, args, message):
    project.tests("def test_x():\n    pass\n")
    result = project.run(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["DONE"]', "fail_fast_statuses names 'DONE', not a terminal_failure status (BROKEN)"),
        ('"BROKEN"', "fail_fast_statuses must be a list of status names, got 'BROKEN'"),
    ],
)
def test_bad_fail_fast_statuses_are_one_clear_error(project, alt, value, message):
    project.alt(alt, extra_env=f"pipeline = {{ fail_fast_statuses = {value} }}")
    project.tests("def test_x(api):\n    pass\n")
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "[tool.deployverify.envs.alt.pipeline]" in result.stderr.str()

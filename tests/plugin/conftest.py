"""Shared fixtures for the plugin's pytester tests.

* ``alt_service``: the differently shaped ingestion service (tests/plugin/servers/altservice.py),
  one per session, in a thread on loopback.
* ``docservice``: ONE real docservice deployment per session, started through its launcher
  (``python -m docservice up``) with the plugin's own ``launch`` module; inner pytester runs
  point at it through ``base_url`` instead of launching their own.
* ``project``: writes an inner project (pyproject + tests) for either service.
* ``mode``: runs a test serially and under ``-n 2``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests  # noqa: F401
from plugin_support import (
    ALT_KEY,
    ALT_KEY_VAR,
    CONV_KEY,
    FIXTURES,
    Docservice,
    launched_docservice,
)

# Imported here, before any in-process pytester run: pytester restores sys.modules after each
# inner run, and a module first imported inside one (requests, the plugin's lazily imported
# modules) would otherwise exist twice, breaking isinstance checks in the next run.
from pytest_deployverify.evidence import EVIDENCE_PROPERTY, TestEvidence

SERVERS = Path(__file__).parent / "servers"

sys.path.insert(0, str(SERVERS))

ALT_PIPELINE = """
[tool.deployverify.pipeline]
upload_path = "/ingest/v1/files"
upload_field = "upload"
metadata_field = "meta"
job_path = "/ingest/v1/tasks/{job_id}"
events_path = ""
document_path = "/ingest/v1/files/{document_id}"
delete_path = "/ingest/v1/files/{document_id}"
status_field = "task.state"
job_id_field = "data.task.id"
document_id_field = "data.file.id"
duplicate_field = "dupe"
upload_status_field = "data.task.state"
upload_timestamp_field = "data.task.changed"
timestamp_field = "task.changed"
error_field = "task.problem"
correlation_field = "task.cid"
statuses = ["RECEIVED", "SCANNING", "INDEXING", "DONE"]
terminal_success = ["DONE"]
terminal_failure = ["BROKEN"]

[tool.deployverify.correlation]
header = "X-Request-ID"
traceparent = false
"""

INNER_INI = """
[tool.pytest.ini_options]
asyncio_default_fixture_loop_scope = "function"
"""


@pytest.fixture(scope="session")
def alt_service() -> Iterator[Any]:
    """The differently shaped service, shared by the session (knobs reset per test)."""
    from altservice import AltService

    svc = AltService(api_key=ALT_KEY).start()
    yield svc
    svc.stop()


@pytest.fixture
def alt(alt_service: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``alt_service`` with its knobs and request log reset, and its key in the environment."""
    alt_service.reset()
    monkeypatch.setenv(ALT_KEY_VAR, ALT_KEY)
    return alt_service


@pytest.fixture(scope="session")
def conversion_service() -> Iterator[Any]:
    """The conversion service (tests/plugin/servers/convservice.py), shared by the session."""
    from convservice import ConversionService

    svc = ConversionService(api_key=CONV_KEY).start()
    yield svc
    svc.stop()


@pytest.fixture
def conv(conversion_service: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``conversion_service`` reset, with CONVERT_URL / CONVERT_API_KEY (the example's
    variables) set for inner runs."""
    conversion_service.reset()
    monkeypatch.setenv("CONVERT_URL", conversion_service.url)
    monkeypatch.setenv("CONVERT_API_KEY", CONV_KEY)
    return conversion_service


def _docservice_available() -> bool:
    return importlib.util.find_spec("docservice.__main__") is not None


@pytest.fixture(scope="session")
def docservice() -> Iterator[Docservice]:
    """One docservice deployment (SQLite) for the whole session, via its launcher."""
    if not _docservice_available():
        pytest.skip("docservice launcher (python -m docservice up) not available yet")
    with launched_docservice() as ds:
        yield ds


@pytest.fixture(params=["serial", "xdist"])
def mode(request: pytest.FixtureRequest) -> list[str]:
    """Extra inner-pytest arguments: none, or ``-n 2``."""
    return ["-n", "2"] if request.param == "xdist" else []


class Project:
    """Writes an inner project into ``pytester.path`` and runs it."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester

    def pyproject(self, text: str, ini: str = "") -> None:
        """Write pyproject.toml: ``text`` plus [tool.pytest.ini_options] (+ ``ini`` lines)."""
        self.pytester.makefile(".toml", pyproject=textwrap.dedent(text) + INNER_INI + ini + "\n")

    def alt(self, alt_service: Any, extra_env: str = "", extra: str = "") -> None:
        """A project whose default env ``alt`` points at the alt service."""
        self.pyproject(
            f"""
            [tool.deployverify]
            default_env = "alt"

            [tool.deployverify.envs.alt]
            base_url = "{alt_service.url}"
            secrets = {{ key = "{ALT_KEY_VAR}" }}
            auth = "header:X-Api-Key:key"
            health_path = "/healthz"
            {extra_env}
            """
            + ALT_PIPELINE
            + extra
        )

    def docservice(
        self, ds: Docservice, monkeypatch: pytest.MonkeyPatch, extra_env: str = ""
    ) -> None:
        """A project whose default env ``ds`` points at the session's docservice."""
        monkeypatch.setenv("DV_TEST_DS_TOKEN", ds.token)
        monkeypatch.setenv("DV_TEST_DS_WEBHOOK", ds.webhook_secret)
        self.pyproject(
            f"""
            [tool.deployverify]
            default_env = "ds"

            [tool.deployverify.envs.ds]
            base_url = "{ds.url}"
            secrets = {{ api_token = "DV_TEST_DS_TOKEN", webhook_secret = "DV_TEST_DS_WEBHOOK" }}
            auth = "bearer:api_token"
            {extra_env}
            """
        )

    def tests(self, source: str, name: str = "test_inner") -> None:
        self.pytester.makepyfile(**{name: textwrap.dedent(source)})

    def run(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest("-p", "no:cacheprovider", *args)


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    """An inner project builder bound to this test's pytester directory."""
    return Project(pytester)


def evidence_of(result: pytest.RunResult) -> dict[str, TestEvidence]:
    """nodeid -> the TestEvidence the inner run's teardown reports carried (xdist too)."""
    out: dict[str, TestEvidence] = {}
    for rep in result.reprec.getreports("pytest_runtest_logreport"):  # type: ignore[attr-defined]
        if rep.when != "teardown":
            continue
        for key, value in rep.user_properties:
            if key == EVIDENCE_PROPERTY:
                out[rep.nodeid.split("::")[-1]] = TestEvidence.from_json(value)
    return out


def fixture_pdf(name: str = "small.pdf") -> str:
    """Absolute path of a committed fixture document."""
    return str(FIXTURES / name)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def evidence() -> Any:
    """``evidence(result)``: test name -> TestEvidence of an inner run (see evidence_of)."""
    return evidence_of


@pytest.fixture
def small_pdf() -> str:
    """Path of fixtures/small.pdf, a real one-page PDF."""
    return fixture_pdf("small.pdf")


@pytest.fixture
def alt_key() -> str:
    """The alt service's API key (a secret: must never show in output)."""
    return ALT_KEY

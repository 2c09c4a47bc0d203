"""The session end runs with the garbage collector paused, and leaves it as it found it.

The pause is a cost measure (benchmarks/README.md, "Figures after the fifth issue-20
session"); what is tested here is that it happens and that it never leaks into the user's
process: the collector is back on after the session end, also when a step fails, and a
collector the project turned off stays off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_deployverify import verdict_document

# Reports what the collector looks like after the plugin's session end (its hook runs
# first: tryfirst) and at the very end of the inner run.
SPY_CONFTEST = """
import gc
import pytest

@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    print(f"\\nCOLLECTOR-AFTER-SESSION-END {gc.isenabled()}")
"""

TESTS = """
def test_health(api):
    assert api.get("/healthz").status_code == 200
"""


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """The outer process's collector as it was, whatever the inner run did to it (pytester
    runs the inner session in this process)."""
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def _spy_on_build(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Observe the collector while the verdict document is built (inside the session end);
    the real build still runs."""
    seen: list[bool] = []
    real = verdict_document.build

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(verdict_document, "build", spy)
    return seen


def test_paused_during_the_session_end_and_back_after(
    project, alt, mode, monkeypatch, collector_restored
):
    project.alt(alt)
    project.pytester.makeconftest(SPY_CONFTEST)
    project.tests(TESTS)
    seen = _spy_on_build(monkeypatch)
    result = project.run("-s", *mode)
    result.assert_outcomes(passed=1)
    assert seen == [False]  # the verdict was built with the collector paused
    result.stdout.fnmatch_lines(["*COLLECTOR-AFTER-SESSION-END True*"])
    assert gc.isenabled()


def test_a_collector_the_project_turned_off_stays_off(
    project, alt, mode, monkeypatch, collector_restored
):
    project.alt(alt)
    project.pytester.makeconftest(
        SPY_CONFTEST
        + """
def pytest_configure(config):
    gc.disable()
"""
    )
    project.tests(TESTS)
    seen = _spy_on_build(monkeypatch)
    result = project.run("-s", *mode)
    result.assert_outcomes(passed=1)
    assert seen == [False]
    result.stdout.fnmatch_lines(["*COLLECTOR-AFTER-SESSION-END False*"])


def test_back_on_when_a_session_end_step_fails(project, alt, mode, monkeypatch, collector_restored):
    project.alt(alt)
    project.pytester.makeconftest(SPY_CONFTEST)
    project.tests(TESTS)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("verdict build broke")

    monkeypatch.setattr(verdict_document, "build", broken)
    result = project.run("-s", *mode)
    # the failed step is reported (and the run does not pass silently) ...
    result.stdout.fnmatch_lines(["*verdict failed: RuntimeError: verdict build broke*"])
    # ... and the collector is back all the same
    result.stdout.fnmatch_lines(["*COLLECTOR-AFTER-SESSION-END True*"])
    assert gc.isenabled()

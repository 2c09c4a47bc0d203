"""pytest hooks and fixtures for pytest-deployverify: thin glue only.

Every hook here delegates to the module that owns the job (see docs/architecture.md). Keep
logic out of this file: a hook body is a few calls, a fixture body builds one object.

Sections are owned by components; edit only your section's lines:
    [core]     options, target, launch, client, pipeline fixtures
    [baseline] baseline fixture, record runs, accounting, xdist merge
    [verdict]  timings judge, verdict, alerts, rollback, exit status
    [report]   events stream, HTML/markdown/metrics reports
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_deployverify.evidence import EVIDENCE_PROPERTY, TestEvidence
from pytest_deployverify.state import EVIDENCE_KEY, get_state

MARKERS = {
    "nondestructive": "safe to run on a protected (production) environment: reads only",
    "canary": "writes synthetic data that is cleaned up at teardown; allowed on protected environments",
    "critical": "any failure of this test fails the deployment verdict",
    "perf": "records timing samples judged against the baseline's",
}


# ---------------------------------------------------------------- [core] options and set-up


def pytest_addoption(parser: pytest.Parser) -> None:
    from pytest_deployverify import options

    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for name, help_text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {help_text}")
    get_state(config)
    config.pluginmanager.register(EvidenceCollector(config), "deployverify-evidence")


# ---------------------------------------------------------------- [core] per-test evidence


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[EVIDENCE_KEY] = TestEvidence(
        nodeid=item.nodeid, markers=sorted({m.name for m in item.iter_markers()})
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    evidence = item.stash.get(EVIDENCE_KEY, None)
    if evidence is not None:
        _update_outcome(evidence, report)
        if report.when == "teardown":
            report.user_properties.append((EVIDENCE_PROPERTY, evidence.to_json()))
    return report


def _update_outcome(evidence: TestEvidence, report: pytest.TestReport) -> None:
    evidence.duration += report.duration
    if report.skipped and evidence.outcome in ("unknown", "passed"):
        evidence.outcome = "skipped"
        longrepr = report.longrepr
        evidence.skip_reason = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
    elif report.failed:
        if evidence.outcome not in ("failed", "error"):
            evidence.outcome = "failed" if report.when == "call" else "error"
            evidence.when_failed = report.when
            evidence.message = report.longreprtext[-4000:]
    elif report.when == "call" and report.passed and evidence.outcome == "unknown":
        evidence.outcome = "passed"


class EvidenceCollector:
    """Bound to one config, receives every test report (worker reports too, on the controller).

    ``pytest_runtest_logreport`` gets no config argument; registering an instance per config
    keeps the state on the session instead of in a module global.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        for key, value in report.user_properties:
            if key == EVIDENCE_PROPERTY:
                get_state(self.config).evidence[report.nodeid] = TestEvidence.from_json(value)


# ---------------------------------------------------------------- [baseline]


# ---------------------------------------------------------------- [verdict]


# ---------------------------------------------------------------- [report]

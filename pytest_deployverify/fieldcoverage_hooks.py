"""Field coverage's pytest hooks, registered per config by ``plugin.py``.

* every test item gets a :class:`~pytest_deployverify.fieldcoverage.FieldRecorder` at set-up
  (the ``api`` client and ``upload_document`` report their responses to it);
* at teardown the recorder travels in ``report.user_properties`` (so it crosses xdist like
  the evidence) and the controller merges it into one
  :class:`~pytest_deployverify.fieldcoverage.FieldCoverage`;
* session end: the verdict's ``coverage`` block, ``--fail-unchecked`` and the terminal line.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_deployverify.fieldcoverage import (
    PROPERTY,
    FieldCoverage,
    FieldRecorder,
)
from pytest_deployverify.workers import is_worker

RECORDER_KEY = pytest.StashKey[FieldRecorder]()
COVERAGE_KEY = pytest.StashKey[FieldCoverage]()
NAME = "deployverify-fieldcoverage"


def register(config: pytest.Config) -> None:
    """Register the hooks (called from plugin.py's pytest_configure)."""
    config.pluginmanager.register(FieldCoverageHooks(config), NAME)


def coverage(config: pytest.Config) -> FieldCoverage:
    """The session's merged coverage, with the declarations of ``[tool.deployverify.coverage]``."""
    cov = config.stash.get(COVERAGE_KEY, None)
    if cov is None:
        from pytest_deployverify import settings

        declared = list(settings.get(config).fields.declarations)
        cov = FieldCoverage(declarations=declared)
        config.stash[COVERAGE_KEY] = cov
    return cov


def recorder(item: pytest.Item) -> FieldRecorder:
    """This test's recorder (made on first use when set-up hooks did not run)."""
    rec = item.stash.get(RECORDER_KEY, None)
    if rec is None:
        rec = item.stash[RECORDER_KEY] = FieldRecorder(item.nodeid)
    return rec


def fail_unchecked(config: pytest.Config) -> bool:
    from pytest_deployverify import settings

    return settings.get(config).fields.fail_unchecked


def verdict_block(config: pytest.Config, secrets: list[str]) -> dict[str, Any]:
    return coverage(config).block(secrets, fail_unchecked(config))


def unchecked_names(config: pytest.Config) -> list[str]:
    """``"GET /x $.a"`` for every unchecked, undeclared path (empty unless it matters)."""
    return [f"{r} {p}" for r, p, _ in coverage(config).unchecked()]


class FieldCoverageHooks:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        item.stash[RECORDER_KEY] = FieldRecorder(item.nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[Any]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.when == "teardown":
            rec = item.stash.get(RECORDER_KEY, None)
            if rec is not None and (rec.routes or rec.declared):
                report.user_properties.append((PROPERTY, rec.to_json()))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown" or is_worker(self.config):
            return
        for key, value in report.user_properties:
            if key == PROPERTY and isinstance(value, str):
                coverage(self.config).merge(report.nodeid, value)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if is_worker(self.config):
            return
        cov = coverage(self.config)
        if cov.routes:
            terminalreporter.write_line(f"deployverify: {summary_line(cov)}")


def summary_line(cov: FieldCoverage) -> str:
    """One sentence: how many response fields were seen and what checked them."""
    rows = cov.rows()
    counts: dict[str, int] = {}
    for *_, kind, _ in rows:
        counts[kind] = counts.get(kind, 0) + 1
    parts = [
        f"{counts[k]} {label}"
        for k, label in (
            ("exact", "compared exactly"),
            ("rule", "under a rule"),
            ("schema", "schema-constrained"),
            ("read", "read by tests"),
            ("used", "sent back as IDs"),
            ("declared", "ignored on purpose"),
        )
        if counts.get(k)
    ]
    return (
        f"field coverage: {len(rows)} response fields on {len(cov.routes)} routes; "
        + (", ".join(parts) or "none checked")
        + f"; {counts.get('unchecked', 0)} unchecked"
    )

"""Field coverage of one session: a recorder per test, merged into one coverage.

The session object owns one :class:`FieldCoverageCollector` and calls it from its hooks:

* every test item gets a :class:`~pytest_deployverify.fieldcoverage.FieldRecorder` at set-up
  (the ``api`` client and ``upload_document`` report their responses to it);
* at teardown the recorder travels in ``report.user_properties`` (so it crosses xdist like
  the evidence) and the controller merges it into one
  :class:`~pytest_deployverify.fieldcoverage.FieldCoverage`;
* session end: the verdict's ``coverage`` block, ``--fail-unchecked`` and the summary line.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_deployverify.fieldcoverage import PROPERTY, FieldCoverage, FieldRecorder
from pytest_deployverify.settings import FieldSettings

RECORDER_KEY = pytest.StashKey[FieldRecorder]()


def recorder(item: pytest.Item) -> FieldRecorder:
    """This test's recorder (made on first use when set-up hooks did not run)."""
    rec = item.stash.get(RECORDER_KEY, None)
    if rec is None:
        rec = item.stash[RECORDER_KEY] = FieldRecorder(item.nodeid)
    return rec


class FieldCoverageCollector:
    """Recorders per test in every process; the merged coverage on the controller."""

    def __init__(self, fields: FieldSettings, *, worker: bool) -> None:
        self.worker = worker
        self.fail_unchecked = fields.fail_unchecked
        #: the session's merged coverage, with ``[tool.deployverify.coverage]`` declarations
        self.coverage = FieldCoverage(declarations=list(fields.declarations))

    def test_setup(self, item: pytest.Item) -> None:
        # each run of the test starts with no recorder (record mode runs a test twice); one
        # is made on first use (``recorder``): a test without the api fixtures makes none
        if RECORDER_KEY in item.stash:
            del item.stash[RECORDER_KEY]

    def report_made(self, item: pytest.Item, report: pytest.TestReport) -> None:
        """A test's teardown report carries its recorder (when it saw anything)."""
        rec = item.stash.get(RECORDER_KEY, None)
        if rec is not None and (rec.routes or rec.declared):
            report.user_properties.append((PROPERTY, rec.to_json()))

    def report_logged(self, report: pytest.TestReport) -> None:
        """Merge a teardown report's recorder (the controller's or a worker's test)."""
        if report.when != "teardown" or self.worker:
            return
        for key, value in report.user_properties:
            if key == PROPERTY and isinstance(value, str):
                self.coverage.merge(report.nodeid, value)

    def verdict_block(self, secrets: list[str]) -> dict[str, Any]:
        return self.coverage.block(secrets, self.fail_unchecked)

    def unchecked_names(self) -> list[str]:
        """``"GET /x $.a"`` for every unchecked, undeclared path (empty unless it matters)."""
        return [f"{r} {p}" for r, p, _ in self.coverage.unchecked()]

    def summary_lines(self) -> list[str]:
        if self.worker or not self.coverage.routes:
            return []
        return [f"deployverify: {summary_line(self.coverage)}"]


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

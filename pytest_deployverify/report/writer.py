"""The report component: the live event stream, the end-of-session files and pytest-html's
content, for one session.

Not a plugin: the session object (:mod:`pytest_deployverify.session`) owns one
``ReportWriter`` on the controller (or in a run without xdist; workers write nothing) and calls
it at each step of the run, after the step's facts are final (the test's evidence is stored
before :meth:`test_done`, the verdict is written before :meth:`write_reports`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_deployverify.config import Target
from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.report.context import ReportContext, build_context
from pytest_deployverify.report.events import EventStream
from pytest_deployverify.report_settings import ReportSettings

TITLE = "Deployment verification report"


def redact_metadata(metadata: dict[str, Any], secrets: Sequence[str]) -> None:
    """Redact pytest-metadata's environment table in place (pytest-html shows that dict)."""
    from pytest_deployverify.redact import redact_value

    redacted = redact_value(dict(metadata), secrets)
    metadata.clear()
    metadata.update(redacted)


class ReportWriter:
    """Events stream, pytest-html content and the end-of-session files for one session."""

    def __init__(
        self,
        settings: ReportSettings,
        secrets: Callable[[], list[str]],
        run_id: str | None = None,
    ) -> None:
        self.settings = settings
        #: a callable: the target's secrets are known only once it is resolved
        self.secrets = secrets
        self.stream = EventStream(settings.events, secrets=secrets, run_id=run_id)
        self.written = False
        self.target_announced = False
        #: pytest-html's report data, kept to retitle the page once the target is known
        self.html_report: Any = None

    def context(
        self, verdict: Mapping[str, Any] | None, shown: Mapping[str, Mapping[str, Any]]
    ) -> ReportContext:
        """The inputs for every renderer: the verdict document and each test's evidence, both
        already redacted with this writer's secrets (``SessionState.shown``)."""
        return build_context(
            verdict,
            shown,
            redacted=True,
            secrets=self.secrets(),
            links=self.settings.links,
            verdict_file=self.settings.verdict_file,
            rootdir_from_invocation=self.settings.rootdir_from_invocation,
            run_id=self.stream.run_id,
        )

    # ------------------------------------------------------------ the live stream

    def start(self, *, started_at: str, target: Target | None, args: Sequence[str]) -> None:
        """Open the stream with ``session_start`` (once)."""
        if self.stream.started:
            return
        self.stream.open()
        self.stream.emit(
            "session_start",
            target=self._target_fields(target),
            started_at=started_at,
            pid=os.getpid(),
            args=list(args),
        )

    def _target_fields(self, target: Target | None) -> dict[str, Any] | None:
        """The target as the stream shows it; None while it is not resolved yet."""
        if target is None:
            return None
        self.target_announced = True
        return {"name": target.name, "base_url": target.base_url, "protected": target.protected}

    def collected(self, target: Target | None, tests: int) -> None:
        """Without xdist the target is resolved only once the tests are collected."""
        if self.stream.started and not self.target_announced and target is not None:
            self.stream.emit("target", target=self._target_fields(target), tests=tests)

    def collection_error(self, nodeid: str, longrepr: str) -> None:
        if self.stream.started:
            from pytest_deployverify.report.model import first_line

            self.stream.emit("collection_error", nodeid=nodeid, message=first_line(longrepr))

    def test_done(
        self,
        nodeid: str,
        outcome: str,
        evidence: TestEvidence | None,
        provisional: tuple[str, str],
        secrets: Sequence[str],
    ) -> None:
        """One ``test`` event (the few strings it shows redacted with ``secrets``), then
        ``verdict_change`` when the provisional verdict moved."""
        if evidence is None:
            self.stream.emit("test", nodeid=nodeid, outcome=outcome, correlation_ids=[])
        else:
            self.stream.emit_test(evidence, secrets)
        verdict, reason = provisional
        self.stream.update_verdict(verdict, reason, provisional=True, after=nodeid)

    # ------------------------------------------------------------ end of session

    def write_reports(
        self, verdict: Mapping[str, Any], shown: Mapping[str, Mapping[str, Any]]
    ) -> ReportContext:
        """summary.md, metrics and ``session_end``; once per session. Returns the context.
        ``verdict`` and ``shown`` as for :meth:`context`."""
        from pytest_deployverify.atomic import write_atomic
        from pytest_deployverify.report.metrics import render_metrics
        from pytest_deployverify.report.summary import render_summary

        self.written = True
        ctx = self.context(verdict, shown)
        write_atomic(self.settings.summary, render_summary(ctx))
        if self.settings.metrics:
            write_atomic(self.settings.metrics, render_metrics(ctx))
        v = ctx.verdict
        if v.get("setup_error"):
            self.stream.emit("setup_error", message=v.get("setup_error"))
        if v.get("verdict"):
            self.stream.update_verdict(v.get("verdict"), v.get("reason") or "", provisional=False)
        self.stream.emit(
            "session_end",
            verdict=v.get("verdict"),
            recommendation=v.get("recommendation"),
            reason=v.get("reason"),
            counts=v.get("counts"),
            verdict_sha256=ctx.verdict_sha256,
            reports={**self.settings.paths(), "verdict": ctx.verdict_file},
        )
        return ctx

    def close(self) -> None:
        self.stream.close()

    # ------------------------------------------------------------ pytest-metadata

    def update_metadata(self, metadata: dict[str, Any], ctx: ReportContext | None) -> None:
        """Name the target and baseline in pytest-metadata's table, then redact it."""
        if ctx is not None and ctx.verdict:
            from pytest_deployverify.report.model import version_text

            target = ctx.verdict.get("target") or {}
            base = ctx.verdict.get("baseline") or {}
            metadata["Target environment"] = target.get("name")
            metadata["Target URL"] = target.get("base_url")
            metadata["Deployment version"] = version_text(target.get("deployment_version"))
            metadata["Baseline set"] = base.get("dir")
        redact_metadata(metadata, self.secrets())

    # ------------------------------------------------------------ pytest-html

    def retitle(self, target: Target | None) -> None:
        if self.html_report is not None:
            self.html_report.title = f"{TITLE}: {target.name}" if target is not None else TITLE

    def html_summary(self, ctx: ReportContext) -> str:
        from pytest_deployverify.report.html import render_report

        return render_report(ctx)

    def html_row_cell(self, nodeid: str, evidence: TestEvidence | None) -> str:
        from pytest_deployverify.report.context import scrub_known
        from pytest_deployverify.report.html_tests import correlation_cell

        cids = list(evidence.correlation_ids) if evidence else []
        cell = correlation_cell(self.settings.links, nodeid, cids)
        return scrub_known(cell, self.secrets())

    def html_details(self, data: list[str], when: str, evidence: TestEvidence | None) -> None:
        """Redact pytest-html's failure text and captured output in place; add the request log."""
        from pytest_deployverify.redact import redact_text, redact_value
        from pytest_deployverify.report.context import scrub_known
        from pytest_deployverify.report.html_tests import request_log_text

        secrets = self.secrets()
        # a test that prints or asserts on a secret must not put it in the report
        data[:] = [scrub_known(redact_text(str(entry), secrets), secrets) for entry in data]
        if when != "call" or evidence is None or not evidence.exchanges:
            return
        exchanges = redact_value([vars(x) for x in evidence.exchanges], secrets)
        data.append(scrub_known(request_log_text(exchanges), secrets))

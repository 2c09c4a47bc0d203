"""The report component's hooks, on one object bound to the session's config.

Registered by ``plugin.py`` ([report] section) on the controller only (or in a run without
xdist): workers write nothing. Under xdist the controller receives every worker's reports in
``pytest_runtest_logreport``, after :class:`~pytest_deployverify.plugin.EvidenceCollector` has
stored the test's evidence (our hook is ``trylast``).

The verdict component calls :func:`write_reports` from its ``pytest_sessionfinish`` once the
verdict is built; if it never does (the verdict step crashed), our own ``trylast``
``pytest_sessionfinish`` writes what it can so the stream still ends with ``session_end``.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from pytest_deployverify import settings as settings_mod
from pytest_deployverify.report.context import ReportContext, build_context, session_secrets
from pytest_deployverify.report.events import EventStream, event_fields
from pytest_deployverify.state import get_state

PLUGIN_NAME = "deployverify-report"
TITLE = "Deployment verification report"


def register(config: pytest.Config) -> None:
    """Register the report hooks for this session (controller only)."""
    if hasattr(config, "workerinput"):
        return
    config.pluginmanager.register(ReportPlugin(config), PLUGIN_NAME)


def plugin_for(config: pytest.Config) -> ReportPlugin | None:
    """This session's report plugin, None on a worker or before configure."""
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    return plugin if isinstance(plugin, ReportPlugin) else None


def report_paths(config: pytest.Config) -> dict[str, str | None]:
    """Where this session writes its reports: for the verdict's ``reports`` block."""
    return settings_mod.get(config).report.paths()


def write_reports(config: pytest.Config) -> None:
    """Write summary.md, the metrics textfile and the ``session_end`` event from the verdict.

    Called by the verdict component after it stored ``state.verdict``. Idempotent.
    """
    plugin = plugin_for(config)
    if plugin is not None:
        plugin.write_reports()


def redact_metadata(metadata: dict[str, Any], secrets: list[str]) -> None:
    """Redact pytest-metadata's environment table in place (pytest-html shows that dict)."""
    from pytest_deployverify.redact import redact_value

    redacted = redact_value(dict(metadata), secrets)
    metadata.clear()
    metadata.update(redacted)


def _provisional(config: pytest.Config) -> tuple[str | None, str]:
    """The verdict so far: the verdict component's own rule (``verdict.decide``) applied to the
    evidence that has arrived. Reporters do not judge; timings and baseline accounting are
    judged only at session end, so the provisional verdict is about tests and checks."""
    from pytest_deployverify import verdict

    state = get_state(config)
    watcher = config.pluginmanager.get_plugin(verdict.WATCHER_NAME)
    facts = verdict.Facts(
        evidence=dict(state.evidence),
        selected=len(state.evidence),
        collection_errors=getattr(watcher, "collection_errors", 0),
    )
    decision = verdict.decide(facts)
    return decision.verdict, decision.reason


def _active(config: pytest.Config) -> bool:
    """Whether this session uses deployverify (same rule as the verdict): a project that
    merely has the plugin installed gets no report files."""
    from pytest_deployverify import verdict

    return verdict.is_active(config)


class ReportPlugin:
    """Events stream, pytest-html content and the end-of-session files for one session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = settings_mod.get(config).report
        self.stream = EventStream(self.settings.events, secrets=self._secrets)
        self.written = False
        self.target_announced = False
        #: pytest-html's report data, kept to retitle the page once the target is known
        self.html_report: Any = None

    def _secrets(self) -> list[str]:
        return session_secrets(get_state(self.config))

    def context(self) -> ReportContext:
        """The redacted inputs for every renderer, from the session state."""
        state = get_state(self.config)
        return build_context(
            state.verdict,
            state.evidence,
            secrets=self._secrets(),
            links=self.settings.links,
            verdict_file=self.settings.verdict_file,
        )

    # ------------------------------------------------------------ session and tests

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if _active(self.config):
            self._start_stream()
        self._redact_metadata()

    def _start_stream(self) -> None:
        state = get_state(self.config)
        state.events = self.stream
        self.stream.open()
        self.stream.emit(
            "session_start",
            target=self._target_fields(),
            started_at=state.started_at,
            pid=os.getpid(),
            args=list(self.config.invocation_params.args),
        )

    def _target_fields(self) -> dict[str, Any] | None:
        """The target as the stream shows it; None while it is not resolved yet."""
        target = get_state(self.config).target
        if target is None:
            return None
        self.target_announced = True
        return {
            "name": getattr(target, "name", None),
            "base_url": getattr(target, "base_url", None),
            "protected": getattr(target, "protected", None),
        }

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # Without xdist the core resolves the target only once the tests are collected.
        if not self.stream.started and _active(self.config):
            self._start_stream()
        if not self.stream.started:
            return
        if not self.target_announced and get_state(self.config).target is not None:
            self.stream.emit("target", target=self._target_fields(), tests=len(session.items))

    @pytest.hookimpl(trylast=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and self.stream.started:
            from pytest_deployverify.report.model import first_line

            self.stream.emit(
                "collection_error", nodeid=report.nodeid, message=first_line(report.longreprtext)
            )

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        if not self.stream.started:
            if not _active(self.config):
                return
            self._start_stream()
        state = get_state(self.config)
        evidence = state.evidence.get(report.nodeid)
        if evidence is None:
            fields = {"nodeid": report.nodeid, "outcome": report.outcome, "correlation_ids": []}
        else:
            fields = event_fields(evidence)
        self.stream.emit("test", **fields)
        verdict, reason = _provisional(self.config)
        self.stream.update_verdict(verdict, reason, provisional=True, after=report.nodeid)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Fallback only: normally the verdict component has called write_reports already.
        self.write_reports()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        # A set-up error under xdist skips pytest_sessionfinish; the verdict component wrote
        # its verdict at unconfigure (tryfirst, so before this): the reports say why too.
        if not self.written and get_state(config).verdict is not None:
            self.write_reports()
        self.stream.close()

    def write_reports(self) -> None:
        """summary.md, metrics and ``session_end``; once per session."""
        if self.written or not _active(self.config):
            return
        self.written = True
        if not self.stream.started:
            self._start_stream()
        from pytest_deployverify.report.metrics import render_metrics, write_atomic
        from pytest_deployverify.report.summary import render_summary

        ctx = self.context()
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
        self._redact_metadata(ctx)

    # ------------------------------------------------------------ pytest-metadata

    def _redact_metadata(self, ctx: ReportContext | None = None) -> None:
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:  # pragma: no cover - pytest-metadata is a dependency
            return
        metadata = self.config.stash.get(metadata_key, None)
        if metadata is None:
            return
        if ctx is not None and ctx.verdict:
            target = ctx.verdict.get("target") or {}
            base = ctx.verdict.get("baseline") or {}
            from pytest_deployverify.report.model import version_text

            metadata["Target environment"] = target.get("name")
            metadata["Target URL"] = target.get("base_url")
            metadata["Deployment version"] = version_text(target.get("deployment_version"))
            metadata["Baseline set"] = base.get("dir")
        redact_metadata(metadata, self._secrets())

    # ------------------------------------------------------------ pytest-html

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        self.html_report = report
        self._retitle()

    def _retitle(self) -> None:
        if self.html_report is None:
            return
        target = getattr(get_state(self.config).target, "name", None)
        self.html_report.title = f"{TITLE}: {target}" if target else TITLE

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: Any
    ) -> None:
        from pytest_deployverify.report.html import render_report

        self._retitle()
        ctx = self.context()
        # pytest-html renders the environment table right after this hook
        self._redact_metadata(ctx)
        prefix.append(render_report(ctx))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(2, '<th class="col-dv-cids">Correlation IDs</th>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        from pytest_deployverify.report.context import scrub_known
        from pytest_deployverify.report.html import correlation_cell

        evidence = get_state(self.config).evidence.get(report.nodeid)
        cids = list(evidence.correlation_ids) if evidence else []
        cell = correlation_cell(self.settings.links, report.nodeid, cids)
        cells.insert(2, scrub_known(cell, self._secrets()))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: Any, data: list[str]) -> None:
        from pytest_deployverify.redact import redact_text, redact_value
        from pytest_deployverify.report.context import scrub_known
        from pytest_deployverify.report.html import request_log_text

        secrets = self._secrets()
        # pytest-html shows the failure text and captured output here: a test that prints or
        # asserts on a secret must not put it in the report.
        data[:] = [scrub_known(redact_text(str(entry), secrets), secrets) for entry in data]
        if report.when != "call":
            return
        evidence = get_state(self.config).evidence.get(report.nodeid)
        if evidence is None or not evidence.exchanges:
            return
        exchanges = redact_value([vars(x) for x in evidence.exchanges], secrets)
        data.append(scrub_known(request_log_text(exchanges), secrets))

"""The session object: everything one deployverify session knows, and the run's story in order.

``plugin.py`` builds one :class:`DeployVerifySession` in ``pytest_configure`` and registers it
as the plugin's one config-bound object (it receives the hooks that get no ``config``:
test and collection reports, deselection, pytest-html's table rows). Every other hook in
``plugin.py`` is one call into a method here. Read top to bottom:

1. :meth:`start` - refuse unsafe combinations, resolve/launch/probe the target (xdist
   controller) or adopt the controller's (worker), open the event stream.
2. :meth:`collection_finished` - a run without xdist resolves its target once the selected
   tests are known.
3. :meth:`pytest_runtest_logreport` - each test's evidence arrives (from workers too): it is
   stored, the first failure alerted, the event stream and the provisional verdict updated.
4. :meth:`finish` - the session end, as plain ordered code: finalise baselines -> decide ->
   write the verdict -> alerts -> rollback gate -> reports -> exit status. Each step's failure
   is contained and reported in the terminal summary; :meth:`_exit_status` is the one place
   the exit status is set.
5. :meth:`unconfigure` - the set-up-error verdict when pytest skipped the session end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from pytest_deployverify import core, verdict
from pytest_deployverify.baseline.session import BASELINE_KEY, WORKEROUTPUT_KEY, BaselineSession
from pytest_deployverify.clock import utc_timestamp
from pytest_deployverify.config import Target, refuse_protected_record
from pytest_deployverify.evidence import EVIDENCE_KEY, EVIDENCE_PROPERTY, TestEvidence
from pytest_deployverify.failfast import Breaker
from pytest_deployverify.fieldcoverage_collector import FieldCoverageCollector
from pytest_deployverify.mutation import MutationRunner
from pytest_deployverify.report.events import new_run_id
from pytest_deployverify.settings import Settings
from pytest_deployverify.verdict import Facts, Tally, Verdict
from pytest_deployverify.workers import is_worker, worker_input

if TYPE_CHECKING:
    from pytest_deployverify.alerts import Alerter
    from pytest_deployverify.launch import Deployment
    from pytest_deployverify.reference import Mirror, Reference
    from pytest_deployverify.report.context import ReportContext
    from pytest_deployverify.report.writer import ReportWriter

PLUGIN_NAME = "deployverify-session"
SESSION_KEY = pytest.StashKey["DeployVerifySession"]()
#: workerinput key: the controller's run id
RUN_ID_KEY = "deployverify_run_id"
#: markers whose presence alone makes a session use deployverify
OUR_MARKERS = frozenset({"critical", "perf", "nondestructive", "canary"})
#: options whose presence on the command line makes a session use deployverify
ACTIVATING_OPTIONS = (
    "deployverify_target_env",
    "deployverify_target_url",
    "deployverify_verdict_file",
    "deployverify_report_dir",
    "deployverify_alert_webhook",
    "deployverify_rollback_cmd",
    "deployverify_baseline_dir",
    "deployverify_record",
    "deployverify_fail_unverified",
)
T = TypeVar("T")


def current(config: pytest.Config) -> DeployVerifySession:
    """The session object of ``config`` (created in ``pytest_configure``)."""
    return config.stash[SESSION_KEY]


@dataclass(eq=False)
class DeployVerifySession:
    """One pytest session's deployverify state, with typed references to every component."""

    config: pytest.Config
    settings: Settings
    baseline: BaselineSession
    #: fail fast: this process's breaker (shared with the workers through a directory)
    breaker: Breaker
    #: field coverage: a recorder per test, merged on the controller
    fields: FieldCoverageCollector
    #: response mutation (``--mutate-responses``), and a mutation child's mutant
    mutation: MutationRunner
    #: the report component (controller or a run without xdist; None on a worker)
    reports: ReportWriter | None = None
    started_at: str = field(default_factory=utc_timestamp)
    #: the run's one id (events, verdict, summary, HTML, alerts, terminal); workers get the
    #: controller's, so every line a run leaves anywhere can be matched to the others
    run_id: str = field(default_factory=new_run_id)
    #: resolved at session start (xdist controller), after collection, or from workerinput
    target: Target | None = None
    #: the embedded deployment this session launched
    deployment: Deployment | None = None
    #: why activation failed (the verdict says so), None when it succeeded or never ran
    setup_error: core.SetupError | None = None
    #: nodeid -> evidence, complete on the controller after every test's teardown report
    evidence: dict[str, TestEvidence] = field(default_factory=dict)
    alerter: Alerter | None = None
    #: the reference deployment (``--reference-url``/``--reference-env``), resolved at start
    reference: Reference | None = None
    verdict: Verdict | None = None
    collection_errors: int = 0
    #: session-end steps that failed (shown in the terminal summary)
    failed_steps: list[str] = field(default_factory=list)
    #: the provisional verdict's running tally (incremental: constant work per test)
    tally: Tally = field(default_factory=Tally)
    #: once active, always active (the facts that make a session active only accumulate)
    _active: bool = False
    _evidence_active: bool = False
    #: id(report) -> (report, evidence) of this process's teardown reports: the evidence is
    #: used as it is, not parsed back from the JSON that travels to the xdist controller
    _local: dict[int, tuple[pytest.TestReport, TestEvidence]] = field(default_factory=dict)

    @classmethod
    def create(cls, config: pytest.Config, settings: Settings) -> DeployVerifySession:
        from pytest_deployverify import failfast
        from pytest_deployverify.report.writer import ReportWriter

        worker = is_worker(config)
        dvs = cls(
            config,
            settings,
            BaselineSession(config, settings.baseline, settings.tool),
            breaker=failfast.for_process(config, settings.failfast),
            fields=FieldCoverageCollector(settings.fields, worker=worker),
            mutation=MutationRunner(config, settings.fields, worker=worker),
        )
        config.stash[BASELINE_KEY] = dvs.baseline
        if worker:
            given = worker_input(config).get(RUN_ID_KEY)
            dvs.run_id = given if isinstance(given, str) and given else dvs.run_id
        else:
            dvs.reports = ReportWriter(settings.report, dvs.secrets, dvs.run_id)
        config.stash[SESSION_KEY] = dvs
        return dvs

    @property
    def is_worker(self) -> bool:
        return is_worker(self.config)

    def secrets(self) -> list[str]:
        """Every secret value this session knows (the target's, with launched ones), longest
        first: the one list every redaction receives."""
        target = self.target or (self.setup_error.target if self.setup_error else None)
        values = target.secret_values() if target is not None else []
        if self.reference is not None:
            values = [*values, *self.reference.secret_values()]
        return sorted(set(values), key=len, reverse=True)

    def is_active(self) -> bool:
        """Whether this session uses deployverify, so it gets a verdict, reports and its exit
        status. A project that merely has the plugin installed, or merely defines
        environments, is left alone: it needs an explicit deployverify option, a resolved
        target, baselines in use, or a test that recorded deployverify evidence."""
        if self._active:
            return True
        if core.is_informational(self.config) or self.config.option.setuponly:
            return False
        self._active = (
            self.target is not None
            or self.setup_error is not None
            or self._evidence_active
            or any(self.settings.given.get(dest) for dest in ACTIVATING_OPTIONS)
            or self.baseline.in_use()
        )
        return self._active

    # ------------------------------------------------------------ 1. start

    def start(self) -> None:
        """Session start: refusals before anything is launched, then the target, the alerter
        and the event stream."""
        config, settings = self.config, self.settings
        parent = self.mutation.parent_target()
        if parent is not None:  # a mutation child tests its parent's target
            self.adopt(parent)
        from pytest_deployverify import output_redaction

        # live logs and -s output reach the terminal as written, before any report
        output_redaction.install(config, self.secrets)
        env = settings.env_table(settings.env_name) or {}
        refuse_protected_record(
            settings.baseline.record, settings.env_name, bool(env.get("protected")), settings.tool
        )
        if settings.baseline.delete_unused and not self.is_worker:
            reason = self.baseline.narrowed_by_options()
            if reason is not None:
                from pytest_deployverify.baseline.session import delete_refusal

                raise pytest.UsageError(f"deployverify: {delete_refusal(reason)}")
        if core.is_informational(config):
            self._redact_metadata()
            return
        if settings.reference.enabled:
            from pytest_deployverify import reference

            # before the target is launched: a reference mistake stops the run at once
            self.reference = resolved = reference.resolve(settings)
            if resolved is not None and not self.is_worker:
                reference.probe(resolved, settings.timeouts.probe_timeout)
        if self.is_worker:
            self.adopt(core.target_from_worker_input(config))
            return
        if settings.verdict.alert_webhook is not None:
            from pytest_deployverify.alerts import Alerter

            self.alerter = Alerter(settings.verdict.alert_webhook, run_id=self.run_id)
        if core.needs_target_at_start(config, settings):
            self.activate()
        self._start_stream()
        self._redact_metadata()

    def activate(self) -> Target:
        """Resolve, launch and probe the target once; a failure is kept for the verdict."""
        if self.target is not None:
            return self.target
        attempted: list[Target] = []
        try:
            activated = core.activate(self.config, self.settings, attempted)
        except pytest.UsageError as exc:
            self.setup_error = core.setup_error_of(exc, attempted)
            raise
        self.deployment = activated.deployment
        self.adopt(activated.target)
        assert self.target is not None
        return self.target

    def adopt(self, target: Target | None) -> None:
        """Take a target resolved elsewhere (the xdist controller's, a mutation run's parent)."""
        self.target = target
        self.baseline.target = target

    def current_target(self) -> Target:
        """The target for the ``target`` fixture (activated on first use without xdist)."""
        if self.target is None:
            if self.is_worker:
                raise core.no_target_on_worker()
            return self.activate()
        return self.target

    def mirror(self, item: pytest.Item, correlation_id: str) -> Mirror | None:
        """This test's reference mirror (``_deployverify_mirror``), None without a reference."""
        from pytest_deployverify.reference import mirror_for

        if self.settings.baseline.record:
            return None  # recording compares nothing: the reference is not asked
        return mirror_for(
            item,
            self.reference,
            correlation_id,
            deadline=self.settings.timeouts.job_deadline,
            stall_timeout=self.settings.timeouts.stall_timeout,
            secrets=self.secrets(),
            evidence=item.stash.get(EVIDENCE_KEY, None),
        )

    def _start_stream(self) -> None:
        if self.reports is not None and not self.reports.stream.started and self.is_active():
            self.reports.start(
                started_at=self.started_at,
                target=self.target,
                args=self.config.invocation_params.args,
            )

    # ------------------------------------------------------------ 2. collection

    def deselected(self, items: list[pytest.Item]) -> None:
        self.baseline.deselected.update(i.nodeid for i in items)

    def collection_finished(self, session: pytest.Session) -> None:
        self.baseline.collected.update(i.nodeid for i in session.items)
        self.baseline.collection_errors = self.baseline.collection_errors or bool(
            session.testsfailed
        )
        if core.needs_target_after_collection(self.config, self.settings, session.items):
            self.activate()
        self._start_stream()
        if self.reports is not None:
            self.reports.collected(self.target, len(session.items))

    # ------------------------------------------------------------ 3. tests (hooks without config)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected(items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.failed or self.is_worker:
            return
        self.collection_errors += 1
        self._alert_first_failure(report.nodeid or "<collection>", report.longreprtext)
        if self.reports is not None:
            self.reports.collection_error(report.nodeid, report.longreprtext)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Every test's teardown report carries its evidence (from xdist workers too)."""
        self.mutation.report_logged(report)
        self.fields.report_logged(report)
        if report.when != "teardown":
            return
        ev = None
        local = self._local.pop(id(report), None)
        if local is not None and local[0] is report:
            ev = local[1]
            self._store(ev)
        else:  # a worker's report, on the xdist controller
            for key, value in report.user_properties:
                if key == EVIDENCE_PROPERTY and isinstance(value, str):
                    ev = TestEvidence.from_json(value)
                    self._store(ev)
        if self.is_worker:
            return
        if ev is not None and ev.outcome in ("failed", "error"):
            self._alert_first_failure(ev.nodeid, ev.message, ev)
        if self.reports is None:
            return
        if not self.reports.stream.started:
            if not self.is_active():
                return
            self._start_stream()
        self.reports.test_done(report.nodeid, report.outcome, ev, self._provisional())

    def tests_done(self) -> None:
        """After the test loop, before the session end: the mutation run, when asked."""
        record = self.settings.baseline.record
        self.mutation.tests_done(self.fields.coverage, self.target, record)

    def keep_local(self, report: pytest.TestReport, ev: TestEvidence) -> None:
        """This process made ``report`` (a teardown report) from ``ev``."""
        self._local[id(report)] = (report, ev)

    def _store(self, ev: TestEvidence) -> None:
        if not self._evidence_active and (
            ev.findings or ev.timings or ev.correlation_ids or OUR_MARKERS.intersection(ev.markers)
        ):
            self._evidence_active = True
        if ev.nodeid in self.evidence:  # a test reported twice (a re-run): recount
            self.evidence[ev.nodeid] = ev
            self.tally = Tally.of(self.evidence.values())
        else:
            self.evidence[ev.nodeid] = ev
            self.tally.add(ev)

    def _provisional(self) -> tuple[str, str]:
        """The verdict so far, from the running tally: tests and checks (timings and baseline
        accounting are judged only at session end)."""
        facts = Facts(evidence=self.evidence, collection_errors=self.collection_errors)
        decision = verdict.decide(facts, self.tally)
        return decision.verdict, decision.reason

    def _alert_first_failure(
        self, nodeid: str, message: str, ev: TestEvidence | None = None
    ) -> None:
        alerter = self.alerter
        if alerter is None or alerter.first_failure_sent or not self.is_active():
            return
        from pytest_deployverify.alerts import failing_checks
        from pytest_deployverify.redact import redact_text

        alerter.first_failure(
            nodeid=nodeid,
            outcome=ev.outcome if ev is not None else "error",
            critical=ev is not None and "critical" in ev.markers,
            message=redact_text(verdict.short(message, 300), self.secrets()),
            correlation_ids=list(ev.correlation_ids) if ev is not None else [],
            failing_checks=failing_checks(ev.findings) if ev is not None else [],
            target=self._target_block() if self.target is not None else {},
            reports=self._report_paths(),
        )

    # ------------------------------------------------------------ 4. the session end

    def finish(self, session: pytest.Session, exitstatus: int) -> None:
        """The session end, in order (see the module docstring)."""
        if self.is_worker:
            self.config.workeroutput[WORKEROUTPUT_KEY] = self.baseline.to_worker_output()  # type: ignore[attr-defined]
            return
        if core.is_informational(self.config):
            return
        self._step("baseline accounting", self.baseline.finish)
        if self.is_active():
            decided = self._step("verdict", lambda: self._decide(session))
            if decided is not None:
                self.verdict = decided
                written = self._step("verdict file", self._write_verdict)
                self._step("timing history", self._record_history)
                self._step("summary alert", self._send_summary_alert)
                rollback = self._step("rollback gate", self._rollback_gate)
                if self.alerter is not None or rollback is not None:
                    self._step("verdict file", lambda: self._record_actions(rollback))
                if written is None:
                    self.verdict = None  # no file: the gate has no answer
            self._step("reports", self._write_reports)
        self._exit_status(session, exitstatus)

    def _step(self, name: str, action: Callable[[], T]) -> T | None:
        """Run one session-end step; a failure is reported and the next steps still run."""
        from pytest_deployverify.redact import redact_text

        try:
            return action()
        except Exception as exc:  # contain it: the remaining steps and the summary still run
            text = redact_text(f"{type(exc).__name__}: {exc}", self.secrets())
            self.failed_steps.append(f"{name} failed: {text}")
            return None

    def _decide(self, session: pytest.Session) -> Verdict:
        from pytest_deployverify.perf_session import (
            add_history_note,
            judge_session_timings,
            session_reference,
        )

        record_mode = self.settings.baseline.record
        timings = []
        if not record_mode:
            ref = session_reference(self.config, sorted(self.evidence))
            add_history_note(self.config, ref.warning and f"timing history: {ref.warning}")
            timings = judge_session_timings(self.evidence, ref, self.settings.perf)
        facts = Facts(
            unchecked=self.fields.unchecked_names(),
            fail_unchecked=self.settings.fields.fail_unchecked,
            setup_error=self.setup_error.message if self.setup_error is not None else None,
            evidence=self.evidence,
            selected=int(session.testscollected or 0),
            collection_errors=self.collection_errors,
            timings=timings,
            accounting=self.baseline.accounting(),
            record_mode=record_mode,
            fail_unverified=self.settings.baseline.fail_unverified,
            external_fails=self.settings.perf.external_fails,
            interrupted=bool(session.shouldstop) and not session.testsfailed,
        )
        return self._build(facts)

    def _build(self, facts: Facts) -> Verdict:
        from pytest_deployverify import verdict_document

        document = verdict_document.Session(
            started_at=self.started_at,
            run_id=self.run_id,
            target=self._target_block(),
            baseline=self.baseline,
            reports=self._report_paths(),
            secrets=self.secrets(),
            extra=self._component_blocks(facts),
        )
        return verdict_document.build(verdict.decide(facts), facts, document)

    def _component_blocks(self, facts: Facts) -> dict[str, Any]:
        """The ``coverage`` block (field coverage), after a mutation run ``mutation``, with a
        reference deployment ``reference``."""
        blocks: dict[str, Any] = {"coverage": self.fields.verdict_block(self.secrets())}
        if self.mutation.result is not None:
            blocks["mutation"] = self.mutation.result
        if self.reference is not None:
            from pytest_deployverify.reference import verdict_block

            blocks["reference"] = verdict_block(self.reference, facts.evidence, facts.timings)
        return blocks

    def _target_block(self) -> dict[str, Any]:
        from pytest_deployverify.verdict_document import target_block

        target = self.target or (self.setup_error.target if self.setup_error else None)
        return target_block(target, launched=self.deployment is not None)

    def _report_paths(self) -> dict[str, str | None]:
        paths = self.settings.report.paths()
        paths["verdict"] = str(self.settings.report.verdict_file)
        return paths

    def _write_verdict(self) -> Path:
        from pytest_deployverify.verdict_document import write

        assert self.verdict is not None
        # written before alerts and rollback: a pipeline has its answer even if those misbehave
        return write(self.verdict, self.settings.report.verdict_file)

    def _record_history(self) -> None:
        from pytest_deployverify.perf_session import add_history_note, record_history

        assert self.verdict is not None
        version = (self.verdict.data.get("target") or {}).get("deployment_version")
        note = record_history(
            self.config,
            self.evidence,
            self.verdict.verdict,
            version,
            self.settings.baseline.record,
        )
        add_history_note(self.config, note)

    def _send_summary_alert(self) -> None:
        if self.alerter is not None and self.verdict is not None:
            self.alerter.summary(self.verdict.data)

    def _rollback_gate(self) -> dict[str, Any] | None:
        cfg = self.settings.verdict
        if (
            self.verdict is None
            or self.verdict.verdict != "fail"
            or not cfg.rollback_cmd
            or cfg.rechecking
            or self.settings.baseline.record
        ):
            return None
        from pytest_deployverify.rollback import run_gate

        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"deployverify: verdict is fail, running the rollback command "
                f"(up to {cfg.rollback_timeout:g} s)"
            )
        block = run_gate(
            self.settings,
            command=cfg.rollback_cmd,
            timeout=cfg.rollback_timeout,
            evidence=self.evidence,
            target=self.target,
            secrets=self.secrets(),
        )
        if self.alerter is not None:
            self.alerter.rollback(self.verdict.data, block)
        return block

    def _record_actions(self, rollback: dict[str, Any] | None) -> None:
        from pytest_deployverify.verdict_document import write

        assert self.verdict is not None
        alerts = [r.to_dict() for r in self.alerter.results] if self.alerter is not None else []
        self.verdict.record_actions(alerts, rollback, self.secrets())
        write(self.verdict, self.settings.report.verdict_file)

    def _write_reports(self) -> None:
        if self.reports is None or self.reports.written or not self.is_active():
            return
        self._start_stream()
        data = self.verdict.data if self.verdict is not None else {}
        ctx = self.reports.write_reports(data, self.evidence)
        self._redact_metadata(ctx)

    def _exit_status(self, session: pytest.Session, exitstatus: int) -> None:
        """The one place deployverify sets the exit status."""
        status = int(exitstatus)
        if self.verdict is not None:
            status = verdict.exit_status_for(
                self.verdict.verdict, status, self.settings.verdict.inconclusive_exit_code
            )
            self.verdict.exit_status = status
        elif any(s.startswith("verdict") for s in self.failed_steps):
            status = int(pytest.ExitCode.INTERNAL_ERROR)  # no verdict: a gate must not pass
        elif self.baseline.failure_reason() and status == pytest.ExitCode.OK:
            status = int(pytest.ExitCode.TESTS_FAILED)  # --fail-unverified without a verdict
        session.exitstatus = status

    # ------------------------------------------------------------ 5. unconfigure

    def unconfigure(self) -> None:
        """The verdict file when activation failed and ``pytest_sessionfinish`` never ran.

        Under xdist the target is activated in the controller's ``pytest_sessionstart``; a
        usage error there skips ``pytest_sessionfinish``, which would leave an earlier run's
        verdict file for a release gate to read. The exit status stays pytest's usage error.
        """
        from pytest_deployverify import output_redaction

        output_redaction.uninstall(self.config)
        self.breaker.close()
        if self.is_worker:
            return
        if self.setup_error is not None and self.verdict is None and self.is_active():
            facts = Facts(evidence=self.evidence, setup_error=self.setup_error.message)
            built = self._step("verdict", lambda: self._build(facts))
            if built is not None:
                self.verdict = built
                self._step("verdict file", self._write_verdict)
                built.exit_status = int(pytest.ExitCode.USAGE_ERROR)
            self._step("reports", self._write_reports)
        if self.reports is not None:
            self.reports.close()

    # ------------------------------------------------------------ terminal, pytest-html, metadata

    def summary_lines(self) -> list[str]:
        from pytest_deployverify import terminal

        if self.is_worker or core.is_informational(self.config):
            return []
        from pytest_deployverify.perf_session import history_notes

        notes = history_notes(self.config)
        if self.reference is not None:
            dep = self.reference.block()
            notes = [
                f"reference: env {dep['env']!r} at {', '.join(dep['urls'])} ({dep['asked']})",
                *notes,
            ]
        return [
            *terminal.lines(
                self.target,
                self.evidence,
                self.verdict,
                self.baseline,
                self.failed_steps,
                notes,
            ),
            *self.fields.summary_lines(),
            *self.mutation.summary_lines(),
        ]

    def _redact_metadata(self, ctx: ReportContext | None = None) -> None:
        from pytest_metadata.plugin import metadata_key

        metadata = self.config.stash.get(metadata_key, None)
        if metadata is not None and self.reports is not None:
            self.reports.update_metadata(metadata, ctx)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        if self.reports is not None:
            self.reports.html_report = report
            self.reports.retitle(self.target)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        if self.reports is None:
            return
        self.reports.retitle(self.target)
        data = self.verdict.data if self.verdict is not None else None
        ctx = self.reports.context(data, self.evidence)
        self._redact_metadata(ctx)  # pytest-html renders the environment table next
        prefix.append(self.reports.html_summary(ctx))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(2, '<th class="col-dv-cids">Correlation IDs</th>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        if self.reports is not None:
            evidence = self.evidence.get(report.nodeid)
            cells.insert(2, self.reports.html_row_cell(report.nodeid, evidence))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        if self.reports is not None:
            evidence = self.evidence.get(report.nodeid)
            self.reports.html_details(data, report.when, evidence)

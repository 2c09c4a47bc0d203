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
4. :meth:`finish` (:mod:`session_end`) - the session end, as plain ordered code: finalise
   baselines -> decide -> write the verdict -> alerts -> rollback gate -> reports -> exit
   status. Each step's failure is contained and reported in the terminal summary;
   :meth:`_exit_status` is the one place the exit status is set.
5. :meth:`unconfigure` (:mod:`session_end`) - the set-up-error verdict when pytest skipped
   the session end.

What the session knows (its components, target, evidence, verdict; secrets, whether it is
active) is :class:`~pytest_deployverify.session_state.SessionState`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from pytest_deployverify import core, failfast, verdict
from pytest_deployverify.baseline.session import BASELINE_KEY, BaselineSession
from pytest_deployverify.config import Target, refuse_protected_record
from pytest_deployverify.evidence import EVIDENCE_KEY, EVIDENCE_PROPERTY, TestEvidence
from pytest_deployverify.fieldcoverage_collector import FieldCoverageCollector
from pytest_deployverify.mutation_runner import MutationRunner
from pytest_deployverify.output_redaction import redact_report
from pytest_deployverify.replay_evidence import attach
from pytest_deployverify.session_end import SessionEnd
from pytest_deployverify.settings import Settings
from pytest_deployverify.verdict import Facts, Tally
from pytest_deployverify.workers import is_worker, worker_input

if TYPE_CHECKING:
    from pytest_deployverify.reference import Mirror

PLUGIN_NAME = "deployverify-session"
SESSION_KEY = pytest.StashKey["DeployVerifySession"]()
#: workerinput key: the controller's run id
RUN_ID_KEY = "deployverify_run_id"
#: markers whose presence alone makes a session use deployverify
OUR_MARKERS = frozenset({"critical", "perf", "nondestructive", "canary"})


def uses_deployverify(ev: TestEvidence) -> bool:
    """Whether a test's evidence alone makes its session use deployverify: checks, timings,
    correlation ids or one of the plugin's markers."""
    return bool(
        ev.findings or ev.timings or ev.correlation_ids or OUR_MARKERS.intersection(ev.markers)
    )


def current(config: pytest.Config) -> DeployVerifySession:
    """The session object of ``config`` (created in ``pytest_configure``)."""
    return config.stash[SESSION_KEY]


@dataclass(eq=False, repr=False)  # as SessionState's
class DeployVerifySession(SessionEnd):
    """One pytest session's deployverify state (:mod:`session_state`), its session end
    (:mod:`session_end`), and the run's start and tests in order (see the module docstring)."""

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
            activated = core.activate(self.config, self.settings, attempted, self.breaker)
        except pytest.UsageError as exc:
            self.setup_error = core.setup_error_of(exc, attempted)
            raise
        self.deployment = activated.deployment
        self.adopt(activated.target)
        self.pending_version = activated.version
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

    # Every test passes through the three methods below, whatever it uses: each does only
    # what the test's evidence calls for (a test that used no deployverify fixture has little),
    # and nothing that grows with the number of tests before it (benchmarks/scale.py).

    def test_setup(self, item: pytest.Item) -> None:
        """``pytest_runtest_setup``: the test's evidence, then the protected-target and
        fail-fast skips."""
        self.fields.test_setup(item)
        # item.iter_markers(), without its generator layers
        names = {m.name for node in item.listchain() for m in node.own_markers}
        item.stash[EVIDENCE_KEY] = TestEvidence(nodeid=item.nodeid, markers=sorted(names))
        target = self.target
        if target is not None and target.protected:
            core.skip_if_protected(item, target)
        if self.breaker.enabled:
            failfast.skip_if_proven(item, self.breaker)

    def report_made(self, item: pytest.Item, report: pytest.TestReport) -> None:
        """``pytest_runtest_makereport`` (outermost wrapper): each phase's report."""
        when = report.when
        if when == "teardown":
            self.fields.report_made(item, report)  # before redaction: it holds observed values
        secrets = self.secret_values()
        if secrets or self.target is not None:
            # pytest's own output (terminal, -l locals, captured logs, junitxml) without
            # secrets (the target's, or the selected environment's, and a reference's) and
            # without credential-looking text (a token the target sent, known or not)
            redact_report(report, secrets)
        evidence = item.stash.get(EVIDENCE_KEY, None)
        if evidence is None:
            return
        if when == "call":
            evidence.exchanges_before_teardown = len(evidence.exchanges)
            if evidence.findings and report.passed and not hasattr(report, "wasxfail"):
                message = core.echo_failure_message(self.target, evidence)
                if message:
                    # the test passed, its requests did not: it fails (echo = fail)
                    report.outcome = "failed"
                    report.longrepr = message
        evidence.update_outcome(report)
        if when == "teardown":
            attach(evidence, self.target)  # replay commands for this test's failures
            shown: dict[str, Any] | None = None
            kept: dict[str, Any] | None = None
            # serialised once: the JSON travels to the xdist controller (and to junitxml);
            # this process keeps using the object itself (``pytest_runtest_logreport``)
            if self.is_worker or self._shows_evidence(evidence):
                if evidence.has_records():
                    # it leaves the process here, so redacted here: a check's or a request's
                    # values were redacted when recorded, but not what a test recorded
                    # itself (``component_check``); the result (or, when redaction changed
                    # nothing, only that fact) is kept for the session end's outputs, which
                    # then do not redact this test again
                    shown, changed = evidence.redaction(list(secrets))
                    kept = shown if changed else None
                report.user_properties.append((EVIDENCE_PROPERTY, evidence.to_json(shown)))
            redacted_of = secrets if shown is not None else None
            self._local[id(report)] = (report, evidence, kept, redacted_of)

    @pytest.hookimpl(tryfirst=True)  # before junitxml reads the report: ``_from_worker``
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Every test's teardown report carries its evidence (from xdist workers too)."""
        self.mutation.report_logged(report)
        if report.when != "teardown":
            return
        self.fields.report_logged(report)
        ev = None
        new = False
        local = self._local.pop(id(report), None)
        if local is not None and local[0] is report:
            ev = local[1]
            new = self._store(ev)
            if local[3] is not None:
                self.keep_shown(ev.nodeid, local[2], local[3])
        else:  # a worker's report, on the xdist controller
            ev = self._from_worker(report)
            if ev is not None:
                new = self._store(ev)
        if self.is_worker:
            return
        if ev is not None and ev.outcome in ("failed", "error"):
            self._alert_first_failure(ev.nodeid, ev.message, ev)
        reports = self.reports
        if reports is None:
            return
        if not reports.stream.started:
            if not self.is_active():
                return
            self._start_stream()
        provisional = self._provisional(ev if new else None)
        reports.test_done(report.nodeid, report.outcome, ev, provisional, self.secret_values())

    def _from_worker(self, report: pytest.TestReport) -> TestEvidence | None:
        """The evidence an xdist worker's teardown report carries. Workers send it for every
        test: this session may come to use deployverify later, and then counts the test. Until
        then, a test that used nothing of the plugin has it taken off its report again, so
        junitxml and the hooks after this one see the report as pytest made it."""
        for prop in report.user_properties:
            key, value = prop
            if key == EVIDENCE_PROPERTY and isinstance(value, str):
                ev = TestEvidence.from_json(value)
                if not self._shows_evidence(ev):
                    report.user_properties.remove(prop)
                return ev
        return None

    def _shows_evidence(self, ev: TestEvidence) -> bool:
        """Whether a test's report keeps its evidence as a user property where junitxml and
        the project's hooks see it: once the session uses deployverify, or when this test
        alone makes it do so (ADR 23)."""
        return uses_deployverify(ev) or self.is_active()

    def tests_done(self) -> None:
        """After the test loop, before the session end: the mutation run, when asked."""
        runner = self.mutation
        if runner.wants_run(self.settings.baseline.record):
            from pytest_deployverify.mutation import run_mutants

            runner.result = run_mutants(
                self.config,
                self.settings.fields,
                self.fields.coverage,
                runner.passed,
                self.settle_version(),
                runner.durations,
            )

    def _store(self, ev: TestEvidence) -> bool:
        """Keep ``ev`` (final from now on: ``TestEvidence.freeze``); whether it is the first
        evidence of its test (not a re-run)."""
        ev.freeze()
        if not self._evidence_active and uses_deployverify(ev):
            self._evidence_active = True
        if ev.nodeid in self.evidence:  # a test reported twice (a re-run): recount
            self.evidence[ev.nodeid] = ev
            self._shown.pop(ev.nodeid, None)
            self._as_is.discard(ev.nodeid)
            self.tally = Tally.of(self.evidence.values())
            return False
        self.evidence[ev.nodeid] = ev
        self.tally.add(ev)
        return True

    def _provisional(self, added: TestEvidence | None) -> tuple[str, str]:
        """The verdict so far, from the running tally: tests and checks (timings and baseline
        accounting are judged only at session end). ``added``: the test just stored, when it
        is its first evidence."""
        last = self._last_provisional
        if (
            last is not None
            and last[0] == "pass"
            and last[1] == self.collection_errors
            and added is not None
            and added.outcome == "passed"
            and all(f.outcome == "pass" for f in added.findings)
        ):
            # one more passed test whose checks held leaves a pass a pass; the stream shows
            # only changes of the verdict, so the reason (a count) is not worked out again
            return last[0], last[2]
        facts = Facts(evidence=self.evidence, collection_errors=self.collection_errors)
        decision = verdict.decide(facts, self.tally)
        self._last_provisional = (decision.verdict, self.collection_errors, decision.reason)
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
            # the first failure is news now: the version only if it has been read already
            target=self._target_block() if self.settle_version(wait=False) is not None else {},
            reports=self._report_paths(),
        )

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
        ctx = self.reports.context(data, self.shown())
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

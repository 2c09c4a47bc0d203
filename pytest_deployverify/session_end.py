"""The session end, as plain ordered code: finalise baselines -> decide -> write the verdict ->
alerts -> rollback gate -> reports -> exit status (and the set-up-error verdict at unconfigure).

Each step's failure is contained and reported in the terminal summary; :meth:`SessionEnd._exit_status`
is the one place the exit status is set.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pytest_deployverify import core, verdict
from pytest_deployverify.baseline.session import WORKEROUTPUT_KEY
from pytest_deployverify.evidence import EVIDENCE_KEY
from pytest_deployverify.session_state import SessionState
from pytest_deployverify.verdict import Facts, Verdict

T = TypeVar("T")


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The garbage collector off while the session end runs, as it was before afterwards.

    The session end builds the verdict, the redacted evidence and the reports: many objects,
    all of them kept until written. Collections triggered by those allocations find nothing
    to free, yet each walks every object the session holds, a cost per test: a quarter of
    the session end's time at 4000 small checks (benchmarks/README.md, "Figures after the
    fifth issue-20 session"). The garbage it makes is collected once the collector is back.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class SessionEnd(SessionState):
    """The session's state with its end: :meth:`finish` and :meth:`unconfigure`."""

    def finish(self, session: pytest.Session, exitstatus: int) -> None:
        """The session end, in order (see the module docstring)."""
        # every test's evidence is in ``self.evidence`` since its teardown report: the items
        # need not keep it too (the rest is let go at unconfigure, ``_let_go``)
        for item in session.items:
            if EVIDENCE_KEY in item.stash:
                del item.stash[EVIDENCE_KEY]
        self._step("baseline files", self.baseline.publish)
        if self.is_worker:
            self.config.workeroutput[WORKEROUTPUT_KEY] = self.baseline.to_worker_output()  # type: ignore[attr-defined]
            return
        if core.is_informational(self.config):
            return
        with _collector_paused():
            self._finish(session, exitstatus)

    def _finish(self, session: pytest.Session, exitstatus: int) -> None:
        self.settle_version()
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
        # the running tally counts the same evidence (``_store`` keeps both): no recount
        decision = verdict.decide(facts, self.tally)
        return verdict_document.build(decision, facts, document, self.shown())

    def _component_blocks(self, facts: Facts) -> dict[str, Any]:
        """The ``coverage`` block (field coverage), after a mutation run ``mutation``, with a
        reference deployment ``reference``, and the ``observed_timings`` (never judged)."""
        blocks: dict[str, Any] = {"coverage": self.fields.verdict_block(self.secrets())}
        if self.mutation.result is not None:
            blocks["mutation"] = self.mutation.result
        from pytest_deployverify.perf_session import observed_timings

        observed = observed_timings(facts.evidence)
        if observed:
            blocks["observed_timings"] = observed
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
        ctx = self.reports.write_reports(data, self.shown())
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

        self._step("baseline files", self.baseline.publish)  # no session end: now
        output_redaction.uninstall(self.config)
        self.breaker.close()
        if not self.is_worker:
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
        self._let_go()

    def _let_go(self) -> None:
        """Everything is written: let go of what the session kept per test (its evidence, the
        redacted copies, the verdict, the baseline files' caches). pytest's config, which
        holds this session, lives in reference cycles until the interpreter's final
        collections, and those would walk all of it once more: 0.14 billion instructions at
        4000 small checks (benchmarks/README.md, "Figures after the eleventh issue-20
        session"), and more memory kept by a process that runs pytest in-process again."""
        self.evidence.clear()
        self._shown.clear()
        self._as_is.clear()
        self._local.clear()
        self.tally = verdict.Tally()  # it names the first failed test's evidence
        self.verdict = None
        self.baseline.let_go()

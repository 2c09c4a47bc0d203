"""The baseline component's pytest hooks, registered per config by ``plugin.py`` [baseline].

A registered object (like the report's and the evidence collector's) keeps these hooks next
to each other without colliding with other components' implementations of the same hooks.

* record mode: refuses a protected target before any test runs; repeats each test that uses
  ``baseline``/``timings``/``json_schema`` ``--record-runs`` times in ``pytest_runtest_protocol``
  (only the last run's reports are shown, or the first failing run's), then learns and writes
  its file on the process that ran it;
* xdist: the controller hands its ``recorded_at`` to workers (so files are identical to a
  serial recording); workers send their accounting back in ``workeroutput``;
* session end: unused files, observations not verified, ``--delete-unused-baselines``,
  ``--fail-unverified`` and the terminal summary.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_deployverify.baseline.session import (
    RECORDING_KEY,
    REPEAT_FIXTURES,
    WORKERINPUT_KEY,
    WORKEROUTPUT_KEY,
    ItemRecording,
    get_session,
)
from pytest_deployverify.state import EVIDENCE_KEY, get_state


def register(config: pytest.Config) -> None:
    """Register the hooks (called from plugin.py's pytest_configure)."""
    config.pluginmanager.register(BaselineHooks(config), "deployverify-baseline")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(BaselineXdistHooks(config), "deployverify-baseline-xdist")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def refuse_protected_record(config: pytest.Config) -> None:
    """``--record-baseline`` on a protected target stops the run before any test."""
    session = get_session(config)
    if not session.record_mode:
        return
    target = get_state(config).target
    name: Any = getattr(target, "name", None)
    protected = bool(getattr(target, "protected", False)) if target is not None else None
    if protected is None:
        protected, name = _configured_protected(config)
    if protected:
        from pytest_deployverify import settings
        from pytest_deployverify.config import record_elsewhere_hint

        raise pytest.UsageError(
            f"deployverify: --record-baseline refused: target {name!r} is protected "
            f"(production). {record_elsewhere_hint(settings.get(config).tool)}"
        )


def _configured_protected(config: pytest.Config) -> tuple[bool, str]:
    """Whether the chosen environment is marked protected in pyproject (target not resolved)."""
    from pytest_deployverify import settings

    cfg = settings.get(config)
    env = cfg.env_table(cfg.env_name) or {}
    return bool(env.get("protected")), cfg.env_name


class BaselineHooks:
    """Hooks bound to one config (see the module docstring)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        bs = get_session(self.config)
        refuse_protected_record(self.config)
        if bs.delete_unused and not _is_worker(self.config):
            reason = bs.narrowed_by_options()
            if reason is not None:
                from pytest_deployverify.baseline.session import delete_refusal

                raise pytest.UsageError(f"deployverify: {delete_refusal(reason)}")

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        get_session(self.config).deselected.update(i.nodeid for i in items)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        bs = get_session(self.config)
        bs.collected.update(i.nodeid for i in session.items)
        bs.collection_errors = bs.collection_errors or bool(session.testsfailed)
        refuse_protected_record(self.config)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> bool | None:
        bs = get_session(self.config)
        if not bs.record_mode:
            return None
        from _pytest.runner import runtestprotocol

        rec = ItemRecording(nodeid=item.nodeid)
        item.stash[RECORDING_KEY] = rec
        fixturenames = getattr(item, "fixturenames", ())
        runs = bs.record_runs if any(f in fixturenames for f in REPEAT_FIXTURES) else 1
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        first_failed: list[Any] | None = None
        for index in range(runs):
            last = index == runs - 1
            rec.begin_run(index)
            # Earlier runs tear down only the test's own fixtures (nextitem = its parent), so
            # module and session fixtures (a launched deployment) live across the runs.
            reports = runtestprotocol(item, log=False, nextitem=nextitem if last else item.parent)  # type: ignore[arg-type]
            rec.runs_done += 1
            evidence = item.stash.get(EVIDENCE_KEY, None)
            if evidence is not None:
                for name, samples in evidence.timings.items():
                    rec.timings.setdefault(name, []).extend(samples)
            if any(r.failed for r in reports):
                rec.failed = True
                if first_failed is None:
                    first_failed = reports
            if last:
                # One set of reports per test: the first failing run's, else the last run's
                # (each run's teardown report carries that run's evidence).
                for report in first_failed if first_failed is not None else reports:
                    item.ihook.pytest_runtest_logreport(report=report)
        bs.finish_recording(rec, get_state(self.config).target)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_assertrepr_compare(
        self, config: pytest.Config, op: str, left: Any, right: Any
    ) -> list[str] | None:
        from pytest_deployverify.baseline.fixture import assertrepr

        return assertrepr(op, left, right)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        bs = get_session(self.config)
        if _is_worker(self.config):
            self.config.workeroutput[WORKEROUTPUT_KEY] = bs.to_worker_output()  # type: ignore[attr-defined]
            return
        from pytest_deployverify import core

        if core.is_informational(self.config):
            return
        bs.finished = True
        bs.finalise()
        reason = bs.failure_reason()
        if reason and session.exitstatus == pytest.ExitCode.OK:
            # The verdict reads the same reason from accounting(); without a verdict the exit
            # status must still say the run failed.
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(
        self, terminalreporter: Any, exitstatus: int, config: pytest.Config
    ) -> None:
        if _is_worker(config):
            return
        from pytest_deployverify import core

        if core.is_informational(config):
            return
        bs = get_session(config)
        acc = bs.accounting()
        if not (
            bs.record_mode
            or any(
                acc[k]
                for k in (
                    "verified",
                    "mismatched",
                    "missing",
                    "errors",
                    "not_verified",
                    "unused_files",
                )
            )
        ):
            return
        terminalreporter.section("deployverify baselines", sep="-")
        for line in bs.summary_lines():
            terminalreporter.write_line(line)


class BaselineXdistHooks:
    """xdist-only hooks (registered only when xdist is installed)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKERINPUT_KEY] = get_session(self.config).recorded_at

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get(WORKEROUTPUT_KEY)
        if data:
            get_session(self.config).merge(data)

"""What one deployverify session knows: its components, target, evidence and verdict.

:class:`SessionState` is the data of the session object (``session.DeployVerifySession``)
and the questions every part of it asks: which secrets to redact, whether the session is
active at all. :mod:`session_end` adds the session end to it, :mod:`session` the start, the
tests and the hooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pytest

from pytest_deployverify import core
from pytest_deployverify.baseline.session import BaselineSession
from pytest_deployverify.clock import utc_timestamp
from pytest_deployverify.config import Target, configured_secrets
from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.failfast import Breaker
from pytest_deployverify.fieldcoverage_collector import FieldCoverageCollector
from pytest_deployverify.mutation_runner import MutationRunner
from pytest_deployverify.report.events import new_run_id
from pytest_deployverify.settings import Settings
from pytest_deployverify.verdict import Tally, Verdict
from pytest_deployverify.workers import is_worker

if TYPE_CHECKING:
    from pytest_deployverify.alerts import Alerter
    from pytest_deployverify.launch import Deployment
    from pytest_deployverify.reference import Reference
    from pytest_deployverify.report.context import ReportContext
    from pytest_deployverify.report.writer import ReportWriter
    from pytest_deployverify.target_probe import VersionFetch

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


# No generated repr: it would print every component and every test's evidence, and compiling
# it for this class and its subclass (28 fields each) cost every run 3 million instructions
@dataclass(eq=False, repr=False)
class SessionState:
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
    #: the target's version document while it is still being read (see ``settle_version``)
    pending_version: VersionFetch | None = None
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
    #: what the options alone decide (False: informational or ``--setup-only``; True: an
    #: activating option; None: the session's facts do); read once, in ``__post_init__``
    _options_say: bool | None = field(default=None, init=False)
    #: id(report) -> (report, evidence, shown, secrets) of this process's teardown reports:
    #: the evidence is used as it is, not parsed back from the JSON that travels to the xdist
    #: controller; ``secrets``: what it was redacted of as it left the process (None: it was
    #: not redacted), ``shown`` the result (None: redaction changed nothing)
    _local: dict[
        int,
        tuple[pytest.TestReport, TestEvidence, dict[str, Any] | None, tuple[str, ...] | None],
    ] = field(default_factory=dict)
    #: nodeid -> that test's evidence redacted (``shown``), and the secrets it was redacted of
    _shown: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: nodeids whose evidence redaction left as it is (shown by ``TestEvidence.as_shown``)
    _as_is: set[str] = field(default_factory=set)
    _shown_secrets: tuple[str, ...] = ()
    _secrets_of: tuple[tuple[object, ...], tuple[str, ...]] | None = None
    #: the last provisional verdict, the collection errors it knew of, and its reason
    _last_provisional: tuple[str, int, str] | None = None

    def __post_init__(self) -> None:
        # the options are settled before pytest_configure: read once, not after every test
        if core.is_informational(self.config) or self.config.option.setuponly:
            self._options_say = False
        elif any(self.settings.given.get(dest) for dest in ACTIVATING_OPTIONS):
            self._options_say = True

    @property
    def is_worker(self) -> bool:
        return is_worker(self.config)

    def settle_version(self, *, wait: bool = True) -> Target | None:
        """The target with its version document, once the read started at activation is
        done (waits for it, bounded): before the target leaves this process or is shown.
        ``wait=False``: only if the read is already done."""
        pending = self.pending_version
        if pending is None or not (wait or pending.done()):
            return self.target
        self.pending_version = None
        if self.target is not None:
            version = pending.result()
            self.target = replace(self.target, deployment_version=version)
            self.baseline.target = self.target
        return self.target

    def secrets(self) -> list[str]:
        """Every secret value this session knows (the target's, with launched ones), longest
        first: the one list every redaction receives."""
        return list(self.secret_values())

    def secret_values(self) -> tuple[str, ...]:
        """``secrets()`` as the session keeps it (for the per-test paths: no copy)."""
        # asked several times per test: worked out again only when the target, the set-up
        # error or the reference changed (a Target is frozen: its secrets are fixed with it)
        cached = self._secrets_of
        if (
            cached is not None
            and cached[0][0] is self.target
            and cached[0][1] is self.setup_error
            and cached[0][2] is self.reference
        ):
            return cached[1]
        target = self.target or (self.setup_error.target if self.setup_error else None)
        # no test needed the target (none resolved): the selected environment's secrets are
        # still secrets, wherever a test put them (a component_check, a message, a test id)
        values = target.secret_values() if target is not None else configured_secrets(self.settings)
        if self.reference is not None:
            values = [*values, *self.reference.secret_values()]
        ordered = tuple(sorted(set(values), key=len, reverse=True))
        self._secrets_of = ((self.target, self.setup_error, self.reference), ordered)
        return ordered

    def shown(self, nodeid: str | None = None) -> dict[str, dict[str, Any]]:
        """nodeid -> evidence as every output shows it (event stream, verdict, reports):
        each test's evidence is redacted once, when first asked for (``nodeid``: only that
        test's) or when it left the process (``keep_shown``), and again only should the
        secrets change."""
        secrets = self.secrets()
        shown = self._shown_with(secrets)
        as_is = self._as_is
        for key in (nodeid,) if nodeid is not None else self.evidence:
            if key not in shown:
                ev = self.evidence[key]
                shown[key] = ev.as_shown() if key in as_is else ev.redacted(secrets)
        return shown

    def keep_shown(
        self, nodeid: str, data: dict[str, Any] | None, secrets: tuple[str, ...]
    ) -> None:
        """``nodeid``'s stored evidence as it left the process, redacted of ``secrets`` (for
        ``shown``; None: redaction changed nothing): kept while the session's secrets are
        still those. A test whose evidence needed no redacting costs a set entry until the
        session end, not a copy (issue 20)."""
        shown = self._shown_with(self.secret_values())
        if secrets == self._shown_secrets:
            if data is None:
                self._as_is.add(nodeid)
            else:
                shown[nodeid] = data

    def _shown_with(self, secrets: Sequence[str]) -> dict[str, dict[str, Any]]:
        if tuple(secrets) != self._shown_secrets:
            self._shown.clear()
            self._as_is.clear()
            self._shown_secrets = tuple(secrets)
        return self._shown

    def is_active(self) -> bool:
        """Whether this session uses deployverify, so it gets a verdict, reports and its exit
        status. A project that merely has the plugin installed, or merely defines
        environments, is left alone: it needs an explicit deployverify option, a resolved
        target, baselines in use, or a test that recorded deployverify evidence."""
        if self._active:
            return True
        if self._options_say is not None:
            self._active = self._options_say
            return self._active
        self._active = (
            self.target is not None
            or self.setup_error is not None
            or self._evidence_active
            or self.baseline.in_use()
        )
        return self._active

    def _start_stream(self) -> None:
        if self.reports is not None and not self.reports.stream.started and self.is_active():
            self.reports.start(
                started_at=self.started_at,
                target=self.target,
                args=self.config.invocation_params.args,
            )

    def _redact_metadata(self, ctx: ReportContext | None = None) -> None:
        from pytest_metadata.plugin import metadata_key

        metadata = self.config.stash.get(metadata_key, None)
        if metadata is not None and self.reports is not None:
            self.reports.update_metadata(metadata, ctx)

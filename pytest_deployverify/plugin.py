"""pytest hooks and fixtures for pytest-deployverify: thin glue only.

Every hook here delegates to the module that owns the job (see docs/architecture.md). Keep
logic out of this file: a hook body is a few calls, a fixture body builds one object.

Sections follow the run flow:
    [core]     options, target, launch, client, pipeline fixtures, per-test evidence
    [baseline] baseline and json_schema fixtures (record runs, accounting and the xdist merge
               live on a config-bound object registered by baseline/hooks.py)
    [verdict]  timings fixture, session end: judge -> verdict -> alerts -> rollback -> exit
    [report]   events stream, HTML/markdown/metrics reports, component_check fixture

Hooks that receive no ``config`` (e.g. ``pytest_runtest_logreport``) live on small objects
registered per config, so session state stays on ``config.stash`` and never in a global.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_deployverify.evidence import EVIDENCE_PROPERTY, TestEvidence
from pytest_deployverify.state import EVIDENCE_KEY, get_state

if TYPE_CHECKING:
    from pytest_deployverify.client import ApiClient
    from pytest_deployverify.config import Target
    from pytest_deployverify.pipeline import PipelineFollower, PipelineRun

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
    from pytest_deployverify import settings

    for name, help_text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {help_text}")
    settings.configure(config)  # every option, ini key and pyproject table, validated once
    get_state(config)
    _failfast_configure(config)
    config.pluginmanager.register(EvidenceCollector(config), "deployverify-evidence")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(), "deployverify-xdist")
    _report_configure(config)  # [report]
    _fieldcoverage_configure(config)  # [fields]
    _baseline_configure(config)  # [baseline]
    _verdict_configure(config)  # [verdict]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Resolve/launch/probe the target (xdist controller) or adopt it (worker).

    Other components add their session-start calls below the core's.
    """
    from pytest_deployverify import core

    core.session_start(session)


def pytest_collection_finish(session: pytest.Session) -> None:
    from pytest_deployverify import core

    core.collection_finished(session)


class XdistHooks:
    """Registered only when xdist is installed: its hook specs must exist to validate this."""

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        from pytest_deployverify import core

        core.configure_node(node)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A test that passed but whose requests lost their correlation ID fails (echo = fail)."""
    from pytest_deployverify import core

    result = yield
    message = core.echo_failure_message(item)
    if message:
        pytest.fail(message, pytrace=False)
    return result


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Target and cleanup lines. Other components add their summary calls here."""
    from pytest_deployverify import core

    lines = core.summary_lines(config)
    lines += _verdict_summary_lines(config)  # [verdict]
    if lines:
        terminalreporter.section("deployverify", sep="-")
        for line in lines:
            terminalreporter.write_line(line)


# ---------------------------------------------------------------- [core] fixtures


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Target:
    """The deployment under test (``config.Target``): name, base_url, protected, secrets via
    ``target.secret(name)``, ``target.deployment`` (ready-file data of an embedded one)."""
    from pytest_deployverify import core

    return core.current_target(pytestconfig)


@pytest.fixture
def correlation_id(request: pytest.FixtureRequest) -> str:
    """This test's correlation ID, sent on every request the test makes (one per test)."""
    from pytest_deployverify.client import new_correlation_id

    cid = new_correlation_id()
    evidence = request.node.stash.get(EVIDENCE_KEY, None)
    if evidence is not None:
        evidence.add_correlation_id(cid)
    return cid


@pytest.fixture
def api(target: Target, correlation_id: str, request: pytest.FixtureRequest) -> Iterator[ApiClient]:
    """``ApiClient`` bound to the target: base-URL joining, auth, timeouts, bounded retries,
    the test's correlation ID on every request (echo checked), every exchange recorded."""
    from pytest_deployverify import failfast
    from pytest_deployverify.client import ApiClient
    from pytest_deployverify.fieldcoverage_hooks import observer

    with ApiClient(
        target,
        correlation_id=correlation_id,
        evidence=request.node.stash.get(EVIDENCE_KEY, None),
        observer=observer(request.node),
        breaker=failfast.get(request.config),
    ) as client:
        yield client


@pytest.fixture
def _deployverify_pipeline(
    target: Target, correlation_id: str, request: pytest.FixtureRequest
) -> Iterator[PipelineFollower]:
    """The per-test upload follower both upload fixtures share; deletes uploads at teardown."""
    from pytest_deployverify import core, failfast, settings, timestamps
    from pytest_deployverify.client import ApiClient
    from pytest_deployverify.fieldcoverage_hooks import observer
    from pytest_deployverify.pipeline import PipelineFollower, parse_ts

    evidence = request.node.stash.get(EVIDENCE_KEY, None)
    timeouts = settings.get(request.config).timeouts
    seen = observer(request.node)
    breaker = failfast.get(request.config)
    follower = PipelineFollower(
        lambda: ApiClient(
            target, correlation_id=correlation_id, evidence=evidence, observer=seen, breaker=breaker
        ),
        profile=target.profile,
        deadline=timeouts.job_deadline,
        stall_timeout=timeouts.stall_timeout,
        evidence=evidence,
        secrets=target.secret_values(),
        breaker=breaker,
        timestamp_check=lambda run: timestamps.check_run(
            run,
            started=timestamps.window_start(request.config),
            skew=timeouts.clock_skew,
            parse=parse_ts,
            nodeid=request.node.nodeid,
        ),
    )
    yield follower
    if not core.keep_documents(request.config, target):
        follower.cleanup()


@pytest.fixture
def upload_document(_deployverify_pipeline: PipelineFollower) -> Callable[..., PipelineRun]:
    """``upload_document(path, *, form=None, metadata=None, filename=None, content_type=None,
    expect_terminal=True, deadline=None, cleanup=True) -> PipelineRun``: upload with the
    test's correlation ID (``form``: extra form fields sent as given; ``metadata``: JSON in
    the profile's ``metadata_field``; ``filename``/``content_type``: the file part's name and
    type), follow the job to a terminal status (stall and deadline are outcomes, not
    exceptions: use ``run.assert_complete()``); the document is deleted at teardown (unless
    the profile declares ``delete`` absent). See docs/writing-checks.md."""
    return _deployverify_pipeline.upload


@pytest.fixture
def upload_document_async(
    _deployverify_pipeline: PipelineFollower,
) -> Callable[..., Awaitable[PipelineRun]]:
    """Async twin of ``upload_document``, same parameters: ``await
    upload_document_async(path, form=..., ...)``; use ``asyncio.gather`` to upload N
    documents concurrently."""
    return _deployverify_pipeline.upload_async


# ---------------------------------------------------------------- [core] per-test evidence


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    from pytest_deployverify import core

    item.stash[EVIDENCE_KEY] = TestEvidence(
        nodeid=item.nodeid, markers=sorted({m.name for m in item.iter_markers()})
    )
    core.skip_if_protected(item)
    _failfast_skip(item)


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: redacts what inner wrappers added
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _redact_report(item.config, report)
    evidence = item.stash.get(EVIDENCE_KEY, None)
    if evidence is not None:
        _update_outcome(evidence, report)
        if report.when == "teardown":
            report.user_properties.append((EVIDENCE_PROPERTY, evidence.to_json()))
    return report


def _redact_report(config: pytest.Config, report: pytest.TestReport) -> None:
    """pytest's own output (terminal, -l locals, captured logs, junitxml) without secrets."""
    target = get_state(config).target
    if target is None:
        return
    from pytest_deployverify.output_redaction import redact_report

    redact_report(report, target.secret_values())


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


# ---------------------------------------------------------------- [failfast]


def _failfast_configure(config: pytest.Config) -> None:
    """The breaker that ends tests needing a part proven broken (and its xdist marker dir);
    the run's start, the lower end of the window server timestamps must lie in."""
    from pytest_deployverify import failfast, timestamps

    failfast.register(config)
    timestamps.register(config)


def _failfast_skip(item: pytest.Item) -> None:
    from pytest_deployverify import failfast

    failfast.skip_if_proven(item)


# ---------------------------------------------------------------- [baseline]


def _baseline_configure(config: pytest.Config) -> None:
    """Register the baseline hooks: record runs, protected-target refusal, accounting, xdist."""
    from pytest_deployverify.baseline import hooks

    hooks.register(config)


@pytest.fixture
def baseline(request: pytest.FixtureRequest) -> Any:
    """Compare this test's observations with its baseline file, or record them.

    ``baseline.check(name, value, *, ignore=[paths], shape={path: "uuid"|schema},
    tolerance=0.05 | {path: rel | {"rel", "abs"}}, unordered=[paths], headers=[names])``
    or ``assert value == baseline(name, ...)``. Values: JSON-like data, HTTP responses
    (status, selected headers, JSON body), objects with ``to_observation()`` (PipelineRun).
    A difference or a missing baseline fails the test with every path listed; each check adds
    findings to the test's evidence. With ``--record-baseline`` the values are recorded and
    the noise learned. See docs/baselines.md.
    """
    from pytest_deployverify.baseline.fixture import Baseline
    from pytest_deployverify.baseline.session import get_session

    return Baseline(get_session(request.config), request.node)


@pytest.fixture
def json_schema(request: pytest.FixtureRequest) -> Any:
    """Validate a response or data against a JSON Schema and list every violation by path.

    ``json_schema.validate(value, schema="fixtures/schemas/x.json" | {...})`` or
    ``json_schema.validate(value, name="upload")`` for the schema inferred for this test's
    observation ``upload`` at record time. See docs/baselines.md.
    """
    from pytest_deployverify.baseline.schema import JsonSchema
    from pytest_deployverify.baseline.session import get_session

    return JsonSchema(get_session(request.config), request.node)


# ---------------------------------------------------------------- [verdict]


def _verdict_configure(config: pytest.Config) -> None:
    """Register the verdict watcher (first-failure alert, collection errors): controller only."""
    if not hasattr(config, "workerinput"):
        from pytest_deployverify.verdict import WATCHER_NAME, Watcher

        config.pluginmanager.register(Watcher(config), WATCHER_NAME)


def _verdict_summary_lines(config: pytest.Config) -> list[str]:
    from pytest_deployverify.verdict import summary_lines

    return summary_lines(config)


@pytest.fixture
def timings(request: pytest.FixtureRequest) -> Any:
    """Record timing samples for this test, judged against the baseline's at session end.

    ``timings.record(name, seconds, group="own"|"external")`` adds one sample;
    ``timings.record_run(run, prefix="pipeline")`` adds each stage of a ``PipelineRun``
    (``pipeline.<stage>``, stages waiting on the parser/embeddings grouped "external") and
    ``pipeline.total``; ``timings.sample(name, fn, min_samples=, max_samples=)`` calls ``fn``
    until the sequential judge has decided. Returns a ``perf.Timings``.
    """
    from pytest_deployverify import settings
    from pytest_deployverify.perf import Timings, reference_for_test

    evidence = request.node.stash.get(EVIDENCE_KEY, None)
    if evidence is None:  # set up outside a test item's run (should not happen)
        evidence = TestEvidence(nodeid=request.node.nodeid)
        request.node.stash[EVIDENCE_KEY] = evidence
    lookup, family, record_mode = reference_for_test(request.config, request.node.nodeid)
    return Timings(evidence, settings.get(request.config).perf, lookup, family, record_mode)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Session end (controller; workers return at once). tryfirst: pytest-html and the
    terminal summary run after and see the final verdict and exit status.

    [verdict] judge timings -> verdict -> verdict file -> summary alert -> rollback gate ->
    exit status (``session.exitstatus``). Other components add their calls below it: the
    [report] component writes its reports there, after ``state.verdict`` is final.
    """
    from pytest_deployverify import verdict

    verdict.session_finish(session, exitstatus)
    _report_write(session)  # [report]


# ---------------------------------------------------------------- [report]


def _report_configure(config: pytest.Config) -> None:
    """Register the report hooks (events stream, pytest-html content) on the controller."""
    from pytest_deployverify.report import hooks

    hooks.register(config)


def _report_write(session: pytest.Session) -> None:
    """summary.md, the metrics textfile and the stream's session_end, from the final verdict."""
    from pytest_deployverify.report import hooks

    hooks.write_reports(session.config)


# ---------------------------------------------------------------- [fields]


def _fieldcoverage_configure(config: pytest.Config) -> None:
    """Register field coverage (per-test recorders, xdist merge) and response mutation."""
    from pytest_deployverify import fieldcoverage_hooks, mutation

    fieldcoverage_hooks.register(config)
    mutation.register(config)


@pytest.fixture
def field_coverage(request: pytest.FixtureRequest) -> Any:
    """Declare response fields this suite ignores on purpose, with the reason.

    ``field_coverage.ignore("$.uptime_s", reason="changes every second", route="GET /health")``
    (``route`` omitted: any route). A declared field is reported as ignored on purpose, not
    as unchecked, and does not count for ``--fail-unchecked``. See docs/field-coverage.md.
    """
    from pytest_deployverify.fieldcoverage_hooks import recorder

    return recorder(request.node)


@pytest.fixture
def component_check(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Record evidence about one part of the deployment for the report's completeness section.

    ``component_check("worker", "pass" | "fail" | "inconclusive" | "error", observed=...,
    rule="...", message="...")`` appends a ``Finding(kind="component",
    check="component:worker")`` to this test's evidence (the verdict judges it like any
    check). The report's completeness table lists the environment's ``components``
    (configuration), then any other component a test reported. Returns the finding. Recording a "fail" fails the verdict, not the test:
    assert as well when the test itself should fail.
    """
    from pytest_deployverify.report.model import component_finding

    evidence = request.node.stash.get(EVIDENCE_KEY, None)

    def record(component: str, outcome: str, **fields: Any) -> Any:
        finding = component_finding(component, outcome, **fields)
        finding.nodeid = request.node.nodeid
        if evidence is not None:
            if not finding.correlation_ids:
                finding.correlation_ids = list(evidence.correlation_ids)
            evidence.findings.append(finding)
        return finding

    return record


@pytest.hookimpl(optionalhook=True)
def pytest_metadata(metadata: dict[str, Any], config: pytest.Config) -> None:
    """Redact pytest-metadata's environment table (shown by pytest-html) as soon as it exists.

    Secrets known only later (the target's) are redacted again at session start and end.
    """
    from pytest_deployverify.report.hooks import redact_metadata

    redact_metadata(metadata, [])

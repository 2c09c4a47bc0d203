"""pytest hooks and fixtures for pytest-deployverify: thin glue only.

The run's story is :class:`~pytest_deployverify.session.DeployVerifySession` (built here in
``pytest_configure`` from the one typed ``Settings``, and registered as the plugin's one
config-bound object for the hooks that get no ``config``). Each hook below is one call into
it, or builds one object; docs/architecture.md names the module behind each.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_deployverify.evidence import EVIDENCE_KEY, Finding, TestEvidence
from pytest_deployverify.session import current

if TYPE_CHECKING:
    from requests.adapters import HTTPAdapter

    from pytest_deployverify.baseline.fixture import Baseline
    from pytest_deployverify.baseline.schema import JsonSchema
    from pytest_deployverify.client import ApiClient
    from pytest_deployverify.config import Target
    from pytest_deployverify.fieldcoverage import FieldRecorder, Observer
    from pytest_deployverify.perf import Timings
    from pytest_deployverify.pipeline import PipelineFollower
    from pytest_deployverify.pipeline_run import PipelineRun
    from pytest_deployverify.reference import Mirror

MARKERS = {
    "nondestructive": "safe to run on a protected (production) environment: reads only",
    "canary": "writes synthetic data that is cleaned up at teardown; allowed on protected environments",
    "critical": "any failure of this test fails the deployment verdict",
    "perf": "records timing samples judged against the baseline's",
}


# ---------------------------------------------------------------- configuration and the session


def pytest_addoption(parser: pytest.Parser) -> None:
    from pytest_deployverify import options

    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    from pytest_deployverify import settings
    from pytest_deployverify.session import PLUGIN_NAME, DeployVerifySession

    for name, help_text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {help_text}")
    # every option, ini key and pyproject table, validated once
    dvs = DeployVerifySession.create(config, settings.configure(config))
    config.pluginmanager.register(dvs, PLUGIN_NAME)
    if dvs.settings.baseline.record:
        config.pluginmanager.register(RecordProtocol(), f"{PLUGIN_NAME}-record")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Refusals, then the target: resolved/launched/probed (xdist controller) or adopted."""
    current(session.config).start()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The baseline directory holds no tests: collection does not walk its files."""
    return True if current(config).baseline.holds_no_tests(collection_path) else None


def pytest_collection_finish(session: pytest.Session) -> None:
    """A run without xdist resolves its target once the selected tests are known."""
    current(session.config).collection_finished(session)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand the resolved target, the recording time and the run id to a
    worker."""
    from pytest_deployverify import core
    from pytest_deployverify.baseline.session import WORKERINPUT_KEY
    from pytest_deployverify.session import RUN_ID_KEY

    dvs = current(node.config)
    target = dvs.settle_version()
    node.workerinput[core.WORKERINPUT_KEY] = target.to_wire() if target is not None else None
    node.workerinput[WORKERINPUT_KEY] = dvs.baseline.recorded_at
    node.workerinput[RUN_ID_KEY] = dvs.run_id
    node.workerinput.update(dvs.breaker.worker_input())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: merge a finished worker's baseline accounting."""
    from pytest_deployverify.baseline.session import WORKEROUTPUT_KEY

    data = getattr(node, "workeroutput", {}).get(WORKEROUTPUT_KEY)
    if data:
        current(node.config).baseline.merge(data)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    """After the test loop: the response mutation run (``--mutate-responses``)."""
    result = yield
    current(session.config).tests_done()
    return result


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The session end (see ``DeployVerifySession.finish``). tryfirst: pytest-html and the
    terminal summary run after it and see the final verdict and exit status."""
    current(session.config).finish(session, exitstatus)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """The one ``deployverify`` section: target, clean-up, verdict, baselines."""
    from pytest_deployverify.terminal import SECTION

    lines = current(config).summary_lines()
    if lines:
        terminalreporter.section(SECTION, sep="-")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    from pytest_deployverify.session import SESSION_KEY

    dvs = config.stash.get(SESSION_KEY, None)
    if dvs is not None:  # None: pytest_configure stopped on a configuration error
        dvs.unconfigure()


@pytest.hookimpl(optionalhook=True)
def pytest_metadata(metadata: dict[str, Any], config: pytest.Config) -> None:
    """Redact pytest-metadata's environment table (shown by pytest-html) as soon as it exists.

    Secrets known only later (the target's) are redacted again at session start and end.
    """
    from pytest_deployverify.report.writer import redact_metadata

    redact_metadata(metadata, [])


# ---------------------------------------------------------------- per test


class RecordProtocol:
    """``--record-baseline`` only (registered by ``pytest_configure``): record mode repeats
    a test ``--record-runs`` times and learns its baseline. Other runs leave pytest's
    protocol alone, without a call of ours per test."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool:
        from pytest_deployverify.baseline.recording import run_recorded

        run_recorded(item, nextitem, current(item.config).baseline)
        return True


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """The test's evidence; the protected-target and fail-fast skips."""
    current(item.config).test_setup(item)


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: redacts what inner wrappers added
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Each phase's report: redacted, folded into the test's evidence; a passed call whose
    requests lost their correlation ID fails (echo = fail)."""
    report = yield
    current(item.config).report_made(item, report)
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: object, right: object
) -> list[str] | None:
    from pytest_deployverify.baseline.fixture import assertrepr

    return assertrepr(op, left, right)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Target:
    """The deployment under test (``config.Target``): name, base_url, protected, secrets via
    ``target.secret(name)``, ``target.deployment`` (ready-file data of an embedded one),
    ``target.deployment_version`` (its version document)."""
    dvs = current(pytestconfig)
    dvs.current_target()
    settled = dvs.settle_version()
    assert settled is not None
    return settled


@pytest.fixture
def _deployverify_target(pytestconfig: pytest.Config) -> Target:
    """The target for the plugin's own fixtures, without waiting for its version document
    (read in the background since activation)."""
    return current(pytestconfig).current_target()


@pytest.fixture
def correlation_id(request: pytest.FixtureRequest) -> str:
    """This test's correlation ID, sent on every request the test makes (one per test)."""
    from pytest_deployverify.correlation_ids import new_correlation_id

    cid = new_correlation_id()
    evidence = request.node.stash.get(EVIDENCE_KEY, None)
    if evidence is not None:
        evidence.add_correlation_id(cid)
    return cid


@pytest.fixture
def _deployverify_mirror(
    _deployverify_target: Target, correlation_id: str, request: pytest.FixtureRequest
) -> Iterator[Mirror | None]:
    """With ``--reference-url``: sends this test's requests and uploads to the reference too
    (docs/ci.md); deletes the reference's documents at teardown. None without a reference."""
    mirror = current(request.config).mirror(request.node, correlation_id)
    yield mirror
    if mirror is not None:
        mirror.close()


@pytest.fixture(scope="session")
def _deployverify_pool() -> Iterator[HTTPAdapter]:
    """The connection pool every test's ``api`` client shares, one per process: a test's
    requests reuse the connections the tests before it opened (no TLS handshake and CA
    bundle load per test), while each test keeps a session, cookies and headers of its own.
    Closed at the session's end."""
    from requests.adapters import HTTPAdapter

    # a test's concurrent uploads each take a connection: up to 32 are kept for reuse (the
    # default 10 would discard the rest with a urllib3 warning per connection)
    pool = HTTPAdapter(pool_maxsize=32)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def api(
    _deployverify_target: Target,
    correlation_id: str,
    _deployverify_mirror: Mirror | None,
    _deployverify_pool: HTTPAdapter,
    request: pytest.FixtureRequest,
) -> Iterator[ApiClient]:
    """``ApiClient`` bound to the target: base-URL joining, auth, timeouts, bounded retries,
    the test's correlation ID on every request (echo checked), every exchange recorded; with
    ``--reference-url`` every request is sent to the reference as well. Its connections
    come from a pool the session's tests share; its cookies are its own."""
    from pytest_deployverify.client import ApiClient

    dvs = current(request.config)
    with ApiClient(
        _deployverify_target,
        correlation_id=correlation_id,
        evidence=request.node.stash.get(EVIDENCE_KEY, None),
        pool=_deployverify_pool,
        observer=_observer(request.node),
        breaker=dvs.breaker,
        mirror=_deployverify_mirror,
    ) as client:
        yield client


def _observer(item: pytest.Item) -> Observer:
    """What a client made for ``item`` reports its traffic to: the test's field recorder, or
    in a mutation child the mutant wrapped around it."""
    from pytest_deployverify.fieldcoverage_collector import recorder

    return current(item.config).mutation.observer(recorder(item))


@pytest.fixture
def _deployverify_pipeline(
    _deployverify_target: Target,
    correlation_id: str,
    _deployverify_mirror: Mirror | None,
    _deployverify_pool: HTTPAdapter,
    request: pytest.FixtureRequest,
) -> Iterator[PipelineFollower]:
    """The per-test upload follower both upload fixtures share; deletes uploads at teardown."""
    from pytest_deployverify import timestamps
    from pytest_deployverify.client import ApiClient
    from pytest_deployverify.pipeline import PipelineFollower
    from pytest_deployverify.pipeline_run import parse_ts

    target = _deployverify_target
    evidence = request.node.stash.get(EVIDENCE_KEY, None)
    dvs = current(request.config)
    settings = dvs.settings
    seen = _observer(request.node)
    breaker = dvs.breaker
    follower = PipelineFollower(
        lambda: ApiClient(
            target,
            correlation_id=correlation_id,
            evidence=evidence,
            pool=_deployverify_pool,
            observer=seen,
            breaker=breaker,
        ),
        breaker=breaker,
        timestamp_check=lambda run: timestamps.check_run(
            run,
            started=timestamps.window_start(request.config),
            skew=settings.timeouts.clock_skew,
            parse=parse_ts,
            nodeid=request.node.nodeid,
        ),
        profile=target.profile,
        deadline=settings.timeouts.job_deadline,
        stall_timeout=settings.timeouts.stall_timeout,
        evidence=evidence,
        secrets=target.secret_values(),
        mirror=_deployverify_mirror,
    )
    yield follower
    # synthetic documents stay only when asked, and never on a protected target
    if not settings.keep_documents or target.protected:
        follower.cleanup()


@pytest.fixture
def upload_document(_deployverify_pipeline: PipelineFollower) -> Callable[..., PipelineRun]:
    """``upload_document(path, *, form=None, metadata=None, filename=None, content_type=None,
    expect_terminal=True, deadline=None, cleanup=True) -> PipelineRun``: upload with the
    test's correlation ID (``form``: extra form fields sent as given; ``metadata``: JSON in
    the profile's ``metadata_field``; ``filename``/``content_type``: the file part's name and
    type), follow the job to a terminal status (stall and deadline are outcomes, not
    exceptions: use ``run.raise_for_outcome()``); the document is deleted at teardown (unless
    the profile declares ``delete`` absent). With ``--reference-url`` the reference uploads
    the same file too (``run.reference_runs``). See docs/writing-checks.md."""
    return _deployverify_pipeline.upload


@pytest.fixture
def upload_document_async(
    _deployverify_pipeline: PipelineFollower,
) -> Callable[..., Awaitable[PipelineRun]]:
    """Async twin of ``upload_document``, same parameters: ``await
    upload_document_async(path, form=..., ...)``; use ``asyncio.gather`` to upload N
    documents concurrently."""
    return _deployverify_pipeline.upload_async


@pytest.fixture
def baseline(request: pytest.FixtureRequest) -> Baseline:
    """Compare this test's observations with its baseline file, or record them.

    ``baseline.check(name, value, *, ignore=[paths], shape={path: "uuid"|schema},
    tolerance=0.05 | {path: rel | {"rel", "abs"}}, unordered=[paths], headers=[names])``
    or ``assert value == baseline(name, ...)``. Values: JSON-like data, HTTP responses
    (status, selected headers, JSON body), objects with ``to_observation()`` (PipelineRun).
    A difference or a missing baseline fails the test with every path listed; each check adds
    findings to the test's evidence. With ``--record-baseline`` the values are recorded and
    the noise learned. With ``--reference-url`` a response, run or run part is also compared
    with the reference deployment's two live answers, and a stored baseline is optional
    (docs/configuration.md, "Live comparison"). See docs/baselines.md.
    """
    from pytest_deployverify.baseline.fixture import Baseline

    dvs = current(request.config)
    return Baseline(dvs.baseline, request.node, mirrored=dvs.reference is not None)


@pytest.fixture
def json_schema(request: pytest.FixtureRequest) -> JsonSchema:
    """Validate a response or data against a JSON Schema and list every violation by path.

    ``json_schema.validate(value, schema="fixtures/schemas/x.json" | {...})`` or
    ``json_schema.validate(value, name="upload")`` for the schema inferred for this test's
    observation ``upload`` at record time. See docs/baselines.md.
    """
    from pytest_deployverify.baseline.schema import JsonSchema

    return JsonSchema(current(request.config).baseline, request.node)


@pytest.fixture
def timings(request: pytest.FixtureRequest) -> Timings:
    """Record timing samples for this test, judged against the baseline's at session end.

    ``timings.record(name, seconds, group="own"|"external")`` adds one sample;
    ``timings.record_run(run, prefix="pipeline")`` adds each stage of a ``PipelineRun``
    (``pipeline.<stage>``, stages waiting on the parser/embeddings grouped "external") and
    ``pipeline.total``; ``timings.sample(name, fn, min_samples=, max_samples=)`` calls ``fn``
    until the sequential judge has decided. Returns a ``perf.Timings``.
    """
    from pytest_deployverify.perf import Timings
    from pytest_deployverify.perf_session import reference_for_test

    evidence = request.node.stash.get(EVIDENCE_KEY, None)
    if evidence is None:  # set up outside a test item's run (should not happen)
        evidence = TestEvidence(nodeid=request.node.nodeid)
        request.node.stash[EVIDENCE_KEY] = evidence
    lookup, family, record_mode = reference_for_test(request.config, request.node.nodeid)
    return Timings(evidence, current(request.config).settings.perf, lookup, family, record_mode)


@pytest.fixture
def field_coverage(request: pytest.FixtureRequest) -> FieldRecorder:
    """Declare response fields this suite ignores on purpose, with the reason.

    ``field_coverage.ignore("$.uptime_s", reason="changes every second", route="GET /health")``
    (``route`` omitted: any route). A declared field is reported as ignored on purpose, not
    as unchecked, and does not count for ``--fail-unchecked``. See docs/field-coverage.md.
    """
    from pytest_deployverify.fieldcoverage_collector import recorder

    return recorder(request.node)


@pytest.fixture
def component_check(request: pytest.FixtureRequest) -> Callable[..., Finding]:
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

    def record(component: str, outcome: str, **fields: Any) -> Finding:
        finding = component_finding(component, outcome, **fields)
        finding.nodeid = request.node.nodeid
        if evidence is not None:
            if not finding.correlation_ids:
                finding.correlation_ids = list(evidence.correlation_ids)
            evidence.findings.append(finding)
        return finding

    return record

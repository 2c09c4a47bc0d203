"""The proof that the smoke suite catches what broke before.

For each docservice fault switch (each reproduces one way the origin deployment broke while
looking healthy) a local deployment is launched with that fault and the *unchanged* smoke suite
(tests/smoke, fixtures/, baselines/ copied into a pytester project) runs against it. The
verdict must be ``fail`` and the failing tests/checks must name the right symptom. The same
suite against a clean PostgreSQL deployment with 2 workers (another infrastructure than the
SQLite baseline) must pass.

Each case is one subprocess run with its own embedded deployment, so xdist spreads them. Fault
runs whose symptom is a stuck job use a short ``--stall-timeout`` so it is reported in seconds;
detection is never loosened. A behavioural fault's symptoms are in the behaviour tests, so its
run leaves out the ``perf`` tests (about a third of a clean run's time, sampling canaries until
the judge decides); the ``slow`` fault's symptom is a timing, so its run is the perf tests only.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

import pytest
from plugin_support import run_smoke, smoke_project, verdict_failures

PYPROJECT = """
[tool.pytest.ini_options]
asyncio_mode = "strict"
asyncio_default_fixture_loop_scope = "function"

[tool.deployverify]
default_env = "local"

[tool.deployverify.envs.local]
launch = "{{python}} -m docservice up --ready-file {{ready_file}} {args}"
launch_secrets = {{ DOCSERVICE_API_TOKENS = "api_token", DOCSERVICE_WEBHOOK_SECRET = "webhook_secret" }}
auth = "bearer:api_token"
launch_env = {{ DOCSERVICE_MAX_UPLOAD_BYTES = "262144" }}

[tool.deployverify.pipeline]
fail_fast_statuses = ["failed_parse", "failed_chunking", "failed_embedding"]

[tool.deployverify.perf]
abs_floor_s = 0.1
"""


@dataclass(frozen=True)
class Symptom:
    """A failing test (nodeid substring) whose message matches ``message`` (regex)."""

    test: str
    message: str


@dataclass(frozen=True)
class Case:
    fault: str
    symptoms: tuple[Symptom, ...]
    #: a fault whose symptom is not a stuck job must not be mistaken for one: at load 16 the
    #: 30-page canary sat in parse_queued for over 2 s, fail fast took that as proof and ended
    #: the test holding drop_correlation's symptom as "not run"
    options: tuple[str, ...] = ("--stall-timeout=30", "--job-deadline=120")
    #: the tests run: the behaviour tests, or (a timing fault) the perf tests
    select: str = "not perf"


#: Faults whose symptom *is* a stuck job. The stall timeout is 2 s (the others' 30 s): each test
#: that waits for its stuck job waits that long. The symptoms name the stage only where the
#: canary is small (one page: milliseconds per stage even at load 16). --fail-fast=off: every
#: test that would see the stuck job shows its own symptom (fail fast, which ends them as "not
#: run", is proven in test_failfast.py).
STUCK = ("--stall-timeout=2", "--job-deadline=20", "--fail-fast=off")
#: Faults whose canaries end in a failure status. The suite's fail_fast_statuses (as in the
#: repository's pyproject) make the first such canary the proof: health_lies runs so and names
#: the proof; schema_drift runs with --fail-fast=off, so every canary shows its own symptom.
FAILED_OFF = ("--stall-timeout=30", "--job-deadline=120", "--fail-fast=off")


CASES = (
    Case(
        "worker_down",
        (
            Symptom("test_health_within_budget", r"'worker': \{'status': 'down'"),
            Symptom("test_worker_moves_a_canary", r"the worker did not process the canary"),
        ),
        options=STUCK,
    ),
    Case(
        "parser_mock",
        (
            Symptom(
                "test_parser_and_embeddings_are_real", r"wired to test doubles.*mock-llamaparse"
            ),
            Symptom("test_canary_walks_the_pipeline_like_the_baseline", r"parsed_text_sha256"),
        ),
    ),
    Case(
        "schema_drift",
        (
            Symptom("test_version_and_config_fingerprint", r"schema_version"),
            Symptom("test_canary_walks_the_pipeline", r"failed_chunking"),
        ),
        options=FAILED_OFF,
    ),
    Case(
        "stall_at=embeddings_stored",
        (
            Symptom(
                "test_worker_moves_a_canary", r"ended 'stalled' \(final status 'embeddings_stored'"
            ),
            Symptom("test_canary_walks_the_pipeline", r"ended 'stalled'"),
        ),
        options=STUCK,
    ),
    Case(
        "vectors_not_written",
        (
            Symptom(
                "test_canary_walks_the_pipeline",
                r"vector_count 0 != chunk_count \d+ \(rule: one vector per chunk\)",
            ),
        ),
    ),
    Case(
        "instant_complete",
        (
            Symptom("test_server_timestamps_are_sane", r"impossibly fast"),
            Symptom("test_canary_walks_the_pipeline", r"chunk_count 0 \(rule: > 0\)"),
        ),
    ),
    Case(
        "clock_skew=3600",
        (Symptom("test_server_timestamps_are_sane", r"server clock: .* rule: within 10 s"),),
    ),
    Case(
        "empty_status",
        (
            Symptom("test_canary_walks_the_pipeline", r"\$\.status: None is not of type 'string'"),
            Symptom("test_worker_moves_a_canary", r"\$\.status: None is not of type 'string'"),
        ),
        options=STUCK,
    ),
    Case(
        "config_drift",
        (
            Symptom("test_version_and_config_fingerprint", r"config_fingerprint"),
            Symptom("test_parser_and_embeddings_are_real", r"768"),
        ),
    ),
    Case(
        "webhook_unsigned_ok",
        (
            Symptom(
                "test_parser_webhook_requires_a_valid_signature",
                r"signature not enforced.*'unsigned': \{'status': 200",
            ),
        ),
    ),
    Case(
        "health_lies",
        (
            Symptom("test_worker_moves_a_canary", r"failed_embedding"),
            # fail fast: the first canary's failure status is the proof, the later canaries
            # are not run
            Symptom(
                "test_worker_moves_a_canary",
                r"check failfast:pipeline: pipeline proven broken by "
                r"tests/smoke/test_deployment\.py::test_worker_moves_a_canary\S*, correlation ID "
                r"\S+: job ended in 'failed_embedding'",
            ),
        ),
    ),
    Case(
        "drop_correlation",
        (
            Symptom("test_correlation_id_travels_through_the_pipeline", r"correlation ID"),
            Symptom("test_health_within_budget", r"correlation ID not echoed"),
        ),
    ),
    Case(
        "dedup_broken",
        (
            Symptom(
                "test_same_document_twice_gives_the_same_document",
                r"second upload of identical bytes answered HTTP 202 with duplicate=False, "
                r"document [0-9a-f-]{36} / job [0-9a-f-]{36} \(correlation ID \S+\); "
                r"rule: 200 with duplicate=true and the first upload's document",
            ),
        ),
    ),
    Case(
        "metrics_frozen",
        (
            Symptom(
                "test_a_canary_moves_the_counters",
                r"counters did not move with a completed canary: .*"
                r"'docservice_jobs_completed_total': \(0\.0, 0\.0\).*"
                r"rule: each grows by at least 1; .*correlation ID",
            ),
            # the monitoring row of the completeness table names the counters and the canary
            Symptom(
                "test_a_canary_moves_the_counters",
                r"check component:monitoring: counters not moving: .*"
                r"docservice_jobs_completed_total 0 -> 0.* with canary \S+ complete",
            ),
        ),
    ),
    Case(
        # the worker stretches every stage to 2x (at least 2 x 50 ms): 50 ms more per own stage
        # and about 0.4 s more per document, four times the 0.1 s absolute floor. (It was 4x:
        # the same symptom, but its ten batches of concurrent canaries took 100 s.)
        "slow=2",
        (Symptom("timings", r"^timing serial\.small\.\w+ fail"),),
        options=("--stall-timeout=30", "--job-deadline=120"),
        select="perf",
    ),
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner runs must verify the deployment they launch with the suite's defaults: no
    target URL override and no smoke budget from the caller's environment."""
    monkeypatch.delenv("DEPLOYVERIFY_TARGET_URL", raising=False)
    for name in [n for n in os.environ if n.startswith("SMOKE_")]:
        monkeypatch.delenv(name)


def _project(pytester: pytest.Pytester, launch_args: str) -> None:
    smoke_project(pytester, PYPROJECT.format(args=launch_args))


def _run(pytester: pytest.Pytester, launch_args: str, *options: str) -> tuple[Any, dict]:
    _project(pytester, launch_args)
    return run_smoke(pytester, "tests/smoke", "--target-env=local", *options)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.fault for c in CASES])
def test_every_fault_fails_the_verdict_with_its_symptom(pytester: pytest.Pytester, case: Case):
    """Launch docservice with one fault, run the smoke suite: fail, naming the symptom."""
    result, verdict = _run(pytester, f"--fault {case.fault}", "-m", case.select, *case.options)
    failures = verdict_failures(verdict)
    shown = "\n".join(f"  {n}: {m[:300]}" for n, m in failures) or "  (none)"
    assert verdict["verdict"] == "fail", (
        f"fault {case.fault}: verdict {verdict['verdict']!r} ({verdict['reason']}); "
        f"failures:\n{shown}"
    )
    assert verdict["recommendation"] == "roll_back"
    assert result.ret != 0
    for symptom in case.symptoms:
        hits = [n for n, m in failures if symptom.test in n and re.search(symptom.message, m, re.S)]
        assert hits, (
            f"fault {case.fault}: no failure of {symptom.test} matching /{symptom.message}/; "
            f"failures:\n{shown}"
        )


@pytest.mark.slow
def test_clean_postgres_two_workers_passes(pytester: pytest.Pytester):
    """Another infrastructure than the SQLite baseline, same behaviour: every test and check
    passes, and the verdict passes unless timing judgements alone hold it back.

    The timings are judged against samples recorded on SQLite under whatever load the
    recording machine had; on a shared 2-core machine this run's own load shifts them by more
    than any floor we could defend, and a test whose outcome depends on machine load is a bug.
    So this case asserts the behaviour strictly and of the timings only that they were judged
    against real reference samples and that nothing but them kept the verdict from passing.
    That the judge catches a real slowdown is the slow=2 case; how often it alarms on an
    unchanged service is benchmarks/judge_simulation.py's to measure.
    """
    result, verdict = _run(pytester, "--database postgres --workers 2")
    failures = verdict_failures(verdict)
    shown = "\n".join(f"  {n}: {m[:500]}" for n, m in failures) or "  (none)"
    context = f"failures:\n{shown}\n{result.stdout.str()[-2000:]}"
    tests_not_passing = [
        (t["nodeid"], t["outcome"])
        for t in verdict["tests"]
        if t["outcome"] not in ("passed", "skipped")
    ]
    checks_not_passing = [c for c in verdict["checks"] if c["outcome"] != "pass"]
    assert not tests_not_passing and not checks_not_passing, (
        f"clean PostgreSQL deployment: tests not passing {tests_not_passing}; {context}"
    )
    timings = verdict["timings"]
    sampled = [t for t in timings if t["name"].startswith("serial.small.") and t["target"]["n"]]
    assert sampled, f"the perf tests recorded no serial.small timing on PostgreSQL; {context}"
    held = [t for t in timings if t["outcome"] != "pass"]
    unreferenced = [t["name"] for t in held if not t["baseline"]["n"] or not t["target"]["n"]]
    assert not unreferenced, f"timings without samples on both sides: {unreferenced}; {context}"
    if verdict["verdict"] == "pass":
        assert result.ret == 0
        return
    # not passing: every reason the verdict gives must be a timing judged slower or too noisy
    other = [r for r in verdict["reasons"] if not any(t["name"] in r for t in held)]
    assert held and not other, (
        f"clean PostgreSQL deployment: verdict {verdict['verdict']!r} for {other}; {context}"
    )


@pytest.mark.slow
def test_error_behaviour_drift_from_the_baseline_fails(pytester: pytest.Pytester):
    """No fault switch changes docservice's error answers, so the proof that the error checks
    can fail edits the baseline instead: a refusal recorded as 400 empty_file must fail the
    not-a-PDF check (415 not_pdf) at its paths, and only that one."""
    _project(pytester, "")
    path = (
        pytester.path
        / "baselines/tests/smoke/test_errors"
        / "test_bad_upload_is_refused_like_the_baseline[not_pdf].json"
    )
    data = json.loads(path.read_text())
    data["observations"]["refusal"]["value"].update(status=400, code="empty_file")
    path.write_text(json.dumps(data, indent=2))
    result = pytester.runpytest_subprocess(
        "tests/smoke/test_errors.py", "--target-env=local", "-p", "no:cacheprovider", timeout=120
    )
    verdict = json.loads((pytester.path / "reports" / "verdict.json").read_text())
    failed = [t["nodeid"] for t in verdict["tests"] if t["outcome"] == "failed"]
    assert verdict["verdict"] == "fail" and result.ret != 0
    assert failed == [
        "tests/smoke/test_errors.py::test_bad_upload_is_refused_like_the_baseline[not_pdf]"
    ]
    paths = {c["path"] for c in verdict["checks"] if c["outcome"] == "fail"}
    assert {"$.status", "$.code"} <= paths, paths

"""The ``deployverify`` option group: every command-line option and its ini key, in one table.

An option given on the command line wins over the ini key (``[tool.pytest.ini_options]``),
which wins over the built-in default: :mod:`pytest_deployverify.settings` applies that order
once, in ``pytest_configure``, and is the only reader of these options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class Option:
    flag: str
    dest: str
    help: str
    default: Any = None
    type: Any = str
    action: str | None = None
    ini: bool = True  # also readable from an ini key named like dest
    metavar: str | None = None


OPTIONS: tuple[Option, ...] = (
    # [core]
    Option(
        "--target-env",
        "deployverify_target_env",
        "environment to verify, defined in [tool.deployverify.envs.NAME] (default: ini "
        "deployverify_target_env, else [tool.deployverify] default_env, else 'local')",
        metavar="NAME",
    ),
    Option(
        "--target-url",
        "deployverify_target_url",
        "override the chosen environment's base URL (also DEPLOYVERIFY_TARGET_URL)",
        ini=False,
        metavar="URL",
    ),
    Option(
        "--reference-url",
        "deployverify_reference_url",
        "a reference deployment to compare the target with live (docs/ci.md); give it twice "
        "for two reference deployments, else the one reference is asked twice to learn its "
        "noise (ini: URLs separated by spaces)",
        action="append",
        metavar="URL",
    ),
    Option(
        "--reference-env",
        "deployverify_reference_env",
        "environment of the reference deployment ([tool.deployverify.envs.NAME]: its own "
        "URL, secrets, env file); default: the target's environment at --reference-url",
        metavar="NAME",
    ),
    Option(
        "--probe-timeout",
        "deployverify_probe_timeout",
        "seconds the reachability probe may take before the run stops (default 5)",
        default=5.0,
        type=float,
        metavar="SECONDS",
    ),
    Option(
        "--launch-timeout",
        "deployverify_launch_timeout",
        "seconds an embedded deployment may take to become ready (default 60)",
        default=60.0,
        type=float,
        metavar="SECONDS",
    ),
    Option(
        "--job-deadline",
        "deployverify_job_deadline",
        "seconds upload_document waits for a job to reach a terminal status (default 60)",
        default=60.0,
        type=float,
        metavar="SECONDS",
    ),
    Option(
        "--stall-timeout",
        "deployverify_stall_timeout",
        "seconds without a status change before a job is reported stalled (default 20)",
        default=20.0,
        type=float,
        metavar="SECONDS",
    ),
    Option(
        "--keep-documents",
        "deployverify_keep_documents",
        "leave the synthetic documents tests uploaded on the target (debugging; ignored on a "
        "protected environment, where they are always deleted)",
        default=False,
        type=None,
        action="store_true",
    ),
    Option(
        "--clock-skew",
        "deployverify_clock_skew",
        "seconds a server timestamp (job, document, event) may lie outside the run's window "
        "before the run fails naming it (default 120)",
        default=120.0,
        type=float,
        metavar="SECONDS",
    ),
    Option(
        "--fail-fast",
        "deployverify_fail_fast",
        "on|off: once a test proves the pipeline broken (a stalled job) or the target "
        "unreachable, later tests that need it end at once as 'not run' and the verdict names "
        "the first proof (default on; see docs/verdict.md)",
        default="on",
        metavar="on|off",
    ),
    Option(
        "--fail-fast-errors",
        "deployverify_fail_fast_errors",
        "consecutive connection errors or timeouts that prove the target unreachable for "
        "--fail-fast (default 2)",
        default=2,
        type=int,
        metavar="N",
    ),
    # [baseline]
    Option(
        "--baseline",
        "deployverify_baseline_dir",
        "directory of the baseline set to compare against or record into (default baselines/)",
        metavar="DIR",
    ),
    Option(
        "--record-baseline",
        "deployverify_record",
        "record baselines instead of comparing; refused on a protected environment",
        default=False,
        type=None,
        action="store_true",
        ini=False,
    ),
    Option(
        "--record-runs",
        "deployverify_record_runs",
        "with --record-baseline: run each test N times and learn which fields are noise "
        "(default 2)",
        default=2,
        type=int,
        metavar="N",
    ),
    Option(
        "--fail-unverified",
        "deployverify_fail_unverified",
        "fail the run when stored baseline observations were not checked by any selected test",
        default=False,
        type=None,
        action="store_true",
    ),
    Option(
        "--delete-unused-baselines",
        "deployverify_delete_unused",
        "delete baseline files no test in this run used (only with a full, unfiltered run)",
        default=False,
        type=None,
        action="store_true",
        ini=False,
    ),
    # [fields] field coverage and response mutation (docs/field-coverage.md)
    Option(
        "--fail-unchecked",
        "deployverify_fail_unchecked",
        "a response field that no check touched and no declaration ignores makes the verdict "
        "at least inconclusive, naming the fields",
        default=False,
        type=None,
        action="store_true",
    ),
    Option(
        "--mutate-responses",
        "deployverify_mutate",
        "after the run, rerun the tests with the client altering one response field at a "
        "time and report each mutant killed (a check failed) or survived",
        default=False,
        type=None,
        action="store_true",
        ini=False,
    ),
    Option(
        "--mutate-seed",
        "deployverify_mutate_seed",
        "seed that chooses and orders the mutants (default 0): same seed, same mutants",
        default=0,
        type=int,
        metavar="N",
    ),
    Option(
        "--mutate-max",
        "deployverify_mutate_max",
        "at most N mutants per mutation run (default 40)",
        default=40,
        type=int,
        metavar="N",
    ),
    Option(
        "--mutate-time",
        "deployverify_mutate_time",
        "seconds the whole mutation run may take; mutants not started by then are reported "
        "as not run (default 600)",
        default=600.0,
        type=float,
        metavar="SECONDS",
    ),
    # [verdict]
    Option(
        "--verdict-file",
        "deployverify_verdict_file",
        "where to write the verdict JSON (default reports/verdict.json)",
        metavar="PATH",
    ),
    Option(
        "--inconclusive-exit-code",
        "deployverify_inconclusive_exit_code",
        "exit status when the verdict is inconclusive, so a pipeline can hold (default 6)",
        default=6,
        type=int,
        metavar="CODE",
    ),
    Option(
        "--alert-webhook",
        "deployverify_alert_webhook",
        "POST Slack-compatible alerts here on the first failure and at session end "
        "(also DEPLOYVERIFY_ALERT_WEBHOOK)",
        ini=False,
        metavar="URL",
    ),
    Option(
        "--rollback-cmd",
        "deployverify_rollback_cmd",
        "when the verdict is fail, run this command, then re-check the critical tests",
        ini=False,
        metavar="CMD",
    ),
    Option(
        "--rollback-timeout",
        "deployverify_rollback_timeout",
        "seconds the rollback command may run (default 300)",
        default=300.0,
        type=float,
        metavar="SECONDS",
    ),
    Option(
        "--perf-ratio",
        "deployverify_perf_ratio",
        "allowed target/baseline timing ratio before a timing fails (default 1.2)",
        default=1.2,
        type=float,
        metavar="RATIO",
    ),
    Option(
        "--perf-confidence",
        "deployverify_perf_confidence",
        "confidence level of the timing ratio interval (default 0.98: an unchanged timing fails "
        "about one run in a hundred, see docs/verdict.md)",
        default=0.98,
        type=float,
        metavar="LEVEL",
    ),
    Option(
        "--timing-history",
        "deployverify_timing_history",
        "directory of per-environment timing history: a passing run appends its timing "
        "samples to DIR/<environment>/, and once it holds enough runs timings are judged "
        "against its last runs instead of the baseline (see docs/verdict.md)",
        metavar="DIR",
    ),
    Option(
        "--timing-history-min-runs",
        "deployverify_timing_history_min_runs",
        "runs the timing history must hold before it judges timings (default 1)",
        default=1,
        type=int,
        metavar="N",
    ),
    Option(
        "--timing-history-runs",
        "deployverify_timing_history_runs",
        "how many of the newest history runs judge timings (default 5)",
        default=5,
        type=int,
        metavar="K",
    ),
    Option(
        "--accept-timings",
        "deployverify_accept_timings",
        "append this run's timing samples to the timing history even when timings failed, "
        "marked accepted: a person accepting a new normal (new hardware); command line only",
        default=False,
        action="store_true",
        ini=False,
    ),
    # [report]
    Option(
        "--report-dir",
        "deployverify_report_dir",
        "directory for summary.md, events.jsonl and screenshots (default reports/)",
        metavar="DIR",
    ),
    Option(
        "--metrics-file",
        "deployverify_metrics_file",
        "write a Prometheus textfile with the verdict, counts and timing ratios",
        metavar="PATH",
    ),
    Option(
        "--correlation-url",
        "deployverify_correlation_url",
        "URL template for correlation IDs in the report, e.g. "
        "https://logs.example.com/search?q={correlation_id}",
        metavar="TEMPLATE",
    ),
)

GROUP = "deployverify"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "deployverify: verify a deployment against its baseline")
    for opt in OPTIONS:
        kwargs: dict[str, Any] = {"dest": opt.dest, "help": opt.help, "default": None}
        if opt.action:
            kwargs["action"] = opt.action
        if opt.action in (None, "append"):
            kwargs["metavar"] = opt.metavar
            if opt.type is not None:
                kwargs["type"] = opt.type
        group.addoption(opt.flag, **kwargs)
        if opt.ini:
            if opt.action == "store_true":
                parser.addini(opt.dest, help=opt.help, type="bool", default=None)
            else:
                parser.addini(opt.dest, help=opt.help, type="string", default=None)


def by_dest(dest: str) -> Option:
    """The table entry of option ``dest``."""
    return _BY_DEST[dest]


_BY_DEST = {opt.dest: opt for opt in OPTIONS}

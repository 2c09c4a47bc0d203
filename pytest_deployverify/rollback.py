"""The rollback gate: when the verdict is fail, run ``--rollback-cmd``, then re-check.

1. The command runs through the shell in the rootdir, in its own process group, bounded by
   ``--rollback-timeout`` (the whole group is killed when it overruns); stdout and stderr are
   captured together and only a redacted tail is kept.
2. The critical checks are re-run against the same target: ``python -m pytest`` of the test
   files that held this session's critical tests, with ``-m critical``, the same target and
   baseline options, a temporary verdict file and report dir, ``-p no:cacheprovider``, and
   ``DEPLOYVERIFY_RECHECK=1`` in its environment (no alerts, no rollback: no recursion), also
   bounded by ``--rollback-timeout``.
3. ``restored`` is true only when the command exited 0 and the re-check's own verdict is
   pass: the critical checks hold against the baseline again.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_deployverify.config import Target
from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.settings import RECHECK_ENV, Settings
from pytest_deployverify.verdict_settings import ALERT_ENV_VAR

TAIL_CHARS = 4000
#: options of the original run that the re-check passes on unchanged (dest, flag)
PASSED_OPTIONS = (
    ("deployverify_target_env", "--target-env"),
    ("deployverify_target_url", "--target-url"),
    ("deployverify_baseline_dir", "--baseline"),
    ("deployverify_perf_ratio", "--perf-ratio"),
    ("deployverify_perf_confidence", "--perf-confidence"),
    ("deployverify_probe_timeout", "--probe-timeout"),
    ("deployverify_job_deadline", "--job-deadline"),
    ("deployverify_stall_timeout", "--stall-timeout"),
)


@dataclass
class Completed:
    exit_code: int | None
    duration_s: float
    output: str
    timed_out: bool
    error: str | None = None


def run_bounded(
    command: str | Sequence[str],
    *,
    timeout: float,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    shell: bool = False,
) -> Completed:
    """Run ``command`` with its output captured, killing its process group on timeout."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            command,
            shell=shell,
            cwd=str(cwd),
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a timeout kills what it started too
        )
    except OSError as exc:
        return Completed(None, 0.0, "", False, f"could not start: {exc}")
    try:
        out, _ = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            out, _ = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # pipes held open by an escaped grandchild
            out = b""
        timed_out = True
    text = (out or b"").decode("utf-8", errors="replace")
    return Completed(
        None if timed_out else proc.returncode,
        round(time.monotonic() - started, 3),
        text,
        timed_out,
        f"timed out after {timeout:g} s" if timed_out else None,
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=3)
            return
        except subprocess.TimeoutExpired:
            continue


def tail(text: str, secrets: Sequence[str], limit: int = TAIL_CHARS) -> str:
    """The last ``limit`` characters of ``text``, redacted."""
    from pytest_deployverify.redact import redact_text

    return redact_text(text[-limit:], secrets)


def same_target_args(settings: Settings) -> list[str]:
    """The rootdir, ini file and the options that choose the target and the baseline, as a
    child pytest run needs them to verify what this session verified."""
    args = ["--rootdir", str(settings.rootpath)]
    if settings.inipath is not None:
        args += ["-c", str(settings.inipath)]
    for dest, flag in PASSED_OPTIONS:
        value = settings.given.get(dest)
        if value not in (None, False, ""):
            args += [flag, str(value)]
    return args


def recheck_args(
    settings: Settings,
    paths: Sequence[str],
    verdict_file: Path,
    report_dir: Path,
    target: Target | None,
) -> list[str]:
    """The re-check's pytest command line."""
    args = [sys.executable, "-m", "pytest", *paths, "-m", "critical", "-p", "no:cacheprovider"]
    args += same_target_args(settings)
    # the re-check verifies the deployment this session verified: pin its URL unless it was an
    # embedded deployment this session launched (that one is gone once we exit)
    pin = target is not None and target.base_url and not target.embedded
    if pin and target is not None and "--target-url" not in args:
        args += ["--target-url", target.base_url]
    args += ["--verdict-file", str(verdict_file), "--report-dir", str(report_dir), "-q"]
    return args


def recheck_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != ALERT_ENV_VAR}
    env[RECHECK_ENV] = "1"
    return env


def critical_paths(evidence: Mapping[str, TestEvidence], rootpath: Path) -> list[str]:
    """The test files (relative to the rootdir) that held this session's critical tests."""
    paths: list[str] = []
    for nodeid, ev in sorted(evidence.items()):
        if "critical" not in ev.markers:
            continue
        path = nodeid.split("::", 1)[0]
        if path not in paths and (rootpath / path).exists():
            paths.append(path)
    return paths


def run_gate(
    settings: Settings,
    *,
    command: str,
    timeout: float,
    evidence: Mapping[str, TestEvidence],
    target: Target | None,
    secrets: Sequence[str],
) -> dict[str, Any]:
    """Run the rollback command and the critical re-check; the verdict's ``rollback`` block."""
    from pytest_deployverify.redact import redact_text

    rootpath = settings.rootpath
    done = run_bounded(command, timeout=timeout, cwd=rootpath, shell=True, env=recheck_env())
    block: dict[str, Any] = {
        "command": redact_text(command, secrets),
        "exit_code": done.exit_code,
        "duration_s": done.duration_s,
        "timed_out": done.timed_out,
        "error": done.error,
        "output_tail": tail(done.output, secrets),
        "recheck": None,
        "restored": False,
    }
    if done.exit_code != 0:
        block["note"] = (
            "the rollback command did not succeed, so the critical checks were not re-run"
        )
        return block
    paths = critical_paths(evidence, rootpath)
    if not paths:
        block["note"] = "no critical tests ran in this session, so nothing could be re-checked"
        return block
    with tempfile.TemporaryDirectory(prefix="deployverify-recheck-") as tmp:
        verdict_file = Path(tmp) / "verdict.json"
        args = recheck_args(settings, paths, verdict_file, Path(tmp) / "reports", target)
        rc = run_bounded(args, timeout=timeout, cwd=rootpath, env=recheck_env())
        recheck: dict[str, Any] = {
            "verdict": None,
            "passed": 0,
            "failed": 0,
            "exit_code": rc.exit_code,
            "duration_s": rc.duration_s,
            "timed_out": rc.timed_out,
            "reason": rc.error,
            "paths": paths,
            "output_tail": tail(rc.output, secrets, 2000),
        }
        try:
            data = json.loads(verdict_file.read_text("utf-8"))
        except (OSError, ValueError):
            recheck["reason"] = recheck["reason"] or "the re-check wrote no verdict file"
        else:
            counts = data.get("counts") or {}
            recheck.update(
                verdict=data.get("verdict"),
                passed=int(counts.get("passed", 0)),
                failed=int(counts.get("failed", 0)) + int(counts.get("errors", 0)),
                reason=data.get("reason"),
            )
    block["recheck"] = recheck
    block["restored"] = recheck["verdict"] == "pass" and recheck["passed"] > 0
    return block

"""The session verdict: one answer a release pipeline can act on.

``decide`` holds the rules (pure: facts in, verdict out); ``build`` gathers the facts from the
session state and assembles the verdict document (``docs/architecture.md``, "Verdict JSON");
``write`` puts it on disk atomically; ``session_finish`` runs the whole session-end sequence
(judge timings -> verdict -> verdict file -> alerts -> rollback -> exit status).

The rules, in order of precedence (docs/verdict.md explains the why):

fail (recommendation roll_back)
  a critical test failed or errored; a collection error; any test failed, errored or did not
  finish; a check failed or could not be made (outcome error); the baseline is missing or
  mismatched; an own timing regressed beyond its allowed ratio; baseline observations not
  verified while --fail-unverified; an external stage regressed and ``external_fails``.
inconclusive (recommendation hold)
  no test ran, all were skipped, or none passed; selected tests did not run; a check or an
  own timing is inconclusive; an external stage regressed (not our regression: hold).
pass (recommendation promote)
  none of the above.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.judge import TimingResult

SCHEMA_VERSION = 1
RECOMMENDATION = {"pass": "promote", "fail": "roll_back", "inconclusive": "hold"}
#: pytest exit statuses the verdict never overrides: the run itself broke.
_KEEP_STATUSES = (
    pytest.ExitCode.INTERRUPTED,
    pytest.ExitCode.INTERNAL_ERROR,
    pytest.ExitCode.USAGE_ERROR,
)
MESSAGE_LIMIT = 2000


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------ the rules


@dataclass
class Facts:
    """What the verdict is decided on; gathered from the session by :func:`gather_facts`."""

    evidence: Mapping[str, TestEvidence]
    selected: int = 0  # tests selected to run (after deselection)
    collection_errors: int = 0
    timings: Sequence[TimingResult] = ()
    accounting: Mapping[str, Any] | None = None
    record_mode: bool = False
    fail_unverified: bool = False
    external_fails: bool = False
    interrupted: bool = False
    #: the redacted message of the usage error that stopped the run before any test
    #: (``core.SetupError``): unreachable or misconfigured target, failed launch
    setup_error: str | None = None
    #: response fields no check touched and nobody declared (``"GET /x $.a"``), judged
    #: only with ``fail_unchecked`` (``--fail-unchecked``)
    unchecked: Sequence[str] = ()
    fail_unchecked: bool = False


@dataclass
class Decision:
    verdict: str
    reason: str
    #: every reason found, worst first (the first is the verdict's reason)
    reasons: list[str] = field(default_factory=list)

    @property
    def recommendation(self) -> str:
        return RECOMMENDATION[self.verdict]


def _is_critical(ev: TestEvidence) -> bool:
    return "critical" in ev.markers


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _all_were(n: int, word: str) -> str:
    """E.g. "all 3 tests were" or "the only test was" (never "all 1 test were")."""
    return f"all {n} {word}s were" if n != 1 else f"the only {word} was"


def _short(text: str, limit: int = 160) -> str:
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    for ln in (text or "").splitlines():  # pytest puts the assertion on an "E   " line
        if ln.startswith("E "):
            line = ln[1:].strip()
            break
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _describe_failures(kind: str, tests: list[TestEvidence]) -> str:
    first = tests[0]
    what = "errored" if first.outcome == "error" else "failed"
    if first.outcome == "unknown":
        what = "did not finish"
    detail = _short(first.message)
    text = f"{kind} test {first.nodeid} {what}" + (f" ({detail})" if detail else "")
    if len(tests) > 1:
        text += f" and {_plural(len(tests) - 1, 'more test')} did not pass"
    return text


def decide(facts: Facts) -> Decision:
    """The verdict for ``facts``: fail, inconclusive or pass, with the reason in one sentence."""
    evidence = list(facts.evidence.values())
    fails: list[str] = []
    holds: list[str] = []

    bad = [e for e in evidence if e.outcome in ("failed", "error", "unknown")]
    critical_bad = [e for e in bad if _is_critical(e)]
    if critical_bad:
        fails.append(_describe_failures("critical", critical_bad))
    if facts.collection_errors:
        fails.append(f"{_plural(facts.collection_errors, 'collection error')} (tests not run)")
    if bad and not critical_bad:
        fails.append(_describe_failures("the", bad))

    findings = [f for e in evidence for f in e.findings]
    bad_findings = [f for f in findings if f.outcome in ("fail", "error")]
    proofs = [f for f in bad_findings if f.kind == "failfast"]
    if proofs:  # fail fast: the first proof is the cause of every "not run" after it
        fails.insert(0, proofs[0].message)
    if bad_findings:
        f = bad_findings[0]
        word = "could not be made" if f.outcome == "error" else "failed"
        fails.append(
            f"check {f.check} {word}"
            + (f" in {f.nodeid}" if f.nodeid else "")
            + (f": {_short(f.message)}" if f.message else "")
        )

    acc = facts.accounting or {}
    if not facts.record_mode:
        missing, mismatched = list(acc.get("missing") or []), list(acc.get("mismatched") or [])
        if missing:
            fails.append(f"baseline missing for {missing[0]}" + _more(missing))
        if mismatched:
            fails.append(f"baseline mismatch in {mismatched[0]}" + _more(mismatched))
        errors = list(acc.get("errors") or [])
        if errors:
            fails.append(f"baseline could not be used: {errors[0]}" + _more(errors))
        not_verified = list(acc.get("not_verified") or [])
        if not_verified and facts.fail_unverified:
            fails.append(
                f"{_plural(len(not_verified), 'baseline observation')} not verified by any "
                f"selected test (--fail-unverified), e.g. {not_verified[0]}"
            )

    record_failed = list(acc.get("record_failed") or [])
    if facts.record_mode and record_failed:
        fails.append(f"baseline not recorded for {record_failed[0]}" + _more(record_failed))

    if not facts.record_mode:
        for t in facts.timings:
            if t.group == "external" and not facts.external_fails:
                if t.outcome == "fail":
                    who = f"{t.service} slower" if t.service else "external services slower"
                    holds.append(f"external: {who}: {t.reason}; not our regression, hold")
                continue
            if t.outcome == "fail":
                fails.append(f"timing {t.reason}")
            elif t.outcome == "inconclusive":
                holds.append(f"timing {t.reason}")

    passed = sum(1 for e in evidence if e.outcome == "passed")
    skipped = sum(1 for e in evidence if e.outcome == "skipped")
    if facts.setup_error:
        # the cause, not only its consequence: a gate reading "no test ran" cannot act on it
        holds.insert(
            0,
            f"no test ran: {facts.setup_error}"
            if not evidence
            else f"the target could not be set up: {facts.setup_error}",
        )
    elif not evidence:
        holds.insert(0, "no test ran, so nothing was verified")
    elif passed == 0 and not bad:
        holds.insert(0, f"{_all_were(len(evidence), 'test')} skipped, nothing was verified")
    not_run = max(0, facts.selected - len(evidence))
    if not_run:
        holds.append(f"{_plural(not_run, 'selected test')} did not run")
    if facts.interrupted and not fails:
        holds.append("the run was interrupted before it finished")
    if facts.fail_unchecked and facts.unchecked and not facts.record_mode:
        holds.append(
            f"{_plural(len(facts.unchecked), 'response field')} no check touched "
            f"(--fail-unchecked): {', '.join(facts.unchecked[:5])}" + _more(facts.unchecked[4:])
        )
    inconclusive_findings = [f for f in findings if f.outcome == "inconclusive"]
    if inconclusive_findings:
        f = inconclusive_findings[0]
        holds.append(
            f"check {f.check} was inconclusive" + (f": {_short(f.message)}" if f.message else "")
        )

    if fails:
        return Decision("fail", _sentence(fails[0]), fails + holds)
    if holds:
        return Decision("inconclusive", _sentence(holds[0]), holds)
    checks = len(findings)
    timings = sum(1 for t in facts.timings if t.outcome == "pass")
    # "1 test passed", not "all 1 test passed" (others may have been skipped)
    what = f"all {passed} tests passed" if passed != 1 else "1 test passed"
    if skipped:
        what += f" ({skipped} skipped)"
    if checks:
        what += f", {_plural(checks, 'check')} held"
    if timings and not facts.record_mode:
        what += f", {_plural(timings, 'timing')} within limits"
    if facts.record_mode:
        what += "; baseline recorded, nothing compared"
    return Decision("pass", _sentence(what), [what])


def _more(items: Sequence[Any]) -> str:
    return f" and {len(items) - 1} more" if len(items) > 1 else ""


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    text = text[0].upper() + text[1:] if text else text
    return text if text.endswith(".") else text + "."


# ------------------------------------------------------------------------ the document


@dataclass
class Verdict:
    """The built verdict: the decision, the JSON document, where it was written.

    Reporters read ``to_dict()`` (or index it like the dict); nothing in it is a secret.
    """

    verdict: str
    recommendation: str
    reason: str
    data: dict[str, Any]
    path: Path | None = None
    exit_status: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def _finite(value: Any) -> Any:
    """JSON has no infinity: an unbounded interval end becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(_finite(value), default=str))


def timing_entry(t: TimingResult) -> dict[str, Any]:
    """One timing as the verdict file shows it."""
    return _finite(
        {
            "name": t.name,
            "group": t.group,
            "service": t.service,
            "outcome": t.outcome,
            "rule": t.rule,
            "reason": t.reason,
            "baseline": {
                "n": t.baseline_n,
                "median": t.baseline_median,
                "samples": t.baseline_samples,
            },
            "target": {"n": t.target_n, "median": t.target_median, "samples": t.target_samples},
            "ratio": t.ratio,
            "ratio_ci": list(t.ratio_ci) if t.ratio_ci else None,
            "median_ratio": t.median_ratio,
            "confidence": t.confidence,
            "allowed_ratio": t.allowed_ratio,
            "p_value": t.p_value,
            "test_method": t.test_method,
            "reference": t.reference,
            "reference_detail": t.reference_detail,
            "level": t.level,
            "family_size": t.family_size,
            "look": t.look,
            "looks": t.looks,
            "planned_samples": t.planned_samples,
        }
    )


def checks_and_tests(
    evidence: Mapping[str, TestEvidence],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The verdict's ``checks``, ``tests`` and ``cleanup`` lists from the session evidence."""
    checks: list[dict[str, Any]] = []
    tests: list[dict[str, Any]] = []
    cleanup: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for nodeid in sorted(evidence):
        ev = evidence[nodeid]
        critical = _is_critical(ev)
        tests.append(
            {
                "nodeid": nodeid,
                "outcome": ev.outcome,
                "critical": critical,
                "markers": list(ev.markers),
                "duration": round(ev.duration, 6),
                "correlation_ids": list(ev.correlation_ids),
                "message": (ev.message or "")[-MESSAGE_LIMIT:],
                "skip_reason": ev.skip_reason or "",
            }
        )
        for f in ev.findings:
            base = f"{f.nodeid or nodeid}::{f.check}"
            seen[base] = seen.get(base, 0) + 1
            checks.append(
                {
                    "id": base if seen[base] == 1 else f"{base}#{seen[base]}",
                    "nodeid": f.nodeid or nodeid,
                    "name": f.check,
                    "kind": f.kind,
                    "outcome": f.outcome,
                    "critical": critical,
                    "observed": f.observed,
                    "expected": f.expected,
                    "rule": f.rule,
                    "path": f.path,
                    "message": (f.message or "")[-MESSAGE_LIMIT:],
                    "correlation_ids": list(f.correlation_ids or ev.correlation_ids),
                }
            )
        for c in ev.cleanup:
            cleanup.append(
                {
                    "nodeid": nodeid,
                    "document_id": c.get("document_id"),
                    "ok": bool(c.get("ok")),
                    "status": c.get("status"),
                    "error": c.get("error"),
                }
            )
    return checks, tests, cleanup


def counts(
    evidence: Mapping[str, TestEvidence], checks: Sequence[Mapping[str, Any]], selected: int
) -> dict[str, int]:
    outcomes = [e.outcome for e in evidence.values()]
    return {
        "tests": len(outcomes),
        "passed": outcomes.count("passed"),
        "failed": outcomes.count("failed"),
        "errors": outcomes.count("error") + outcomes.count("unknown"),
        "skipped": outcomes.count("skipped"),
        "not_run": max(0, selected - len(outcomes)),
        "checks": len(checks),
        "checks_failed": sum(1 for c in checks if c["outcome"] in ("fail", "error")),
        "checks_inconclusive": sum(1 for c in checks if c["outcome"] == "inconclusive"),
    }


def baseline_checksum(directory: str | Path, files: Sequence[str]) -> str:
    """sha256 over the baseline files used: each relative path and its bytes, in path order."""
    digest = hashlib.sha256()
    root = Path(directory)
    for rel in sorted(files):
        path = Path(rel) if Path(rel).is_absolute() else root / rel
        digest.update(str(rel).encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def baseline_block(baseline: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The verdict's ``baseline`` identity and ``baseline_accounting`` (None without a
    baseline session: the baseline component is not active)."""
    if baseline is None:
        return None, None
    identity = dict(baseline.identity() or {}) if hasattr(baseline, "identity") else {}
    accounting = dict(baseline.accounting() or {}) if hasattr(baseline, "accounting") else None
    files = identity.get("files")
    if identity and not identity.get("checksum") and isinstance(files, list) and files:
        identity["checksum"] = baseline_checksum(identity.get("dir") or ".", files)
    for key in ("dir", "checksum", "files", "recorded_from", "recorded_at", "deployment_version"):
        identity.setdefault(key, [] if key == "files" else None)
    if identity.get("dir") is not None:
        identity["dir"] = str(identity["dir"])
    return identity, accounting


def target_block(state: Any) -> dict[str, Any]:
    target = state.target
    if target is None and getattr(state, "config", None) is not None:
        # activation failed: the target as far as it was resolved, so the file names it
        from pytest_deployverify.core import setup_error

        error = setup_error(state.config)
        target = error.target if error is not None else None
    deployment = getattr(target, "deployment", None) or None
    version = getattr(target, "deployment_version", None)
    if version is None and isinstance(deployment, Mapping):
        version = deployment.get("version")
    return {
        "name": getattr(target, "name", None),
        "base_url": getattr(target, "base_url", None) or None,
        "protected": bool(getattr(target, "protected", False)),
        "launched": state.deployment is not None or bool(getattr(target, "launch", None)),
        "deployment_version": version
        if isinstance(version, (dict, type(None)))
        else {"version": version},
        "components": [
            {"name": name, "label": label} for name, label in getattr(target, "components", ())
        ],
    }


def secrets_of(state: Any) -> list[str]:
    """The target's secret values, for redaction (never written anywhere)."""
    secrets = getattr(state.target, "secrets", None) or {}
    values = secrets.values() if isinstance(secrets, Mapping) else secrets
    return [str(v) for v in values if v]


def redact(obj: Any, secrets: Sequence[str]) -> Any:
    try:
        from pytest_deployverify.redact import redact_value
    except ImportError:  # core's redact.py not there yet: replace the known values only
        text = json.dumps(obj, default=str)
        for s in sorted(secrets, key=len, reverse=True):
            if len(s) >= 4:
                text = text.replace(json.dumps(s)[1:-1], "[REDACTED]")
        return json.loads(text)
    return redact_value(obj, secrets)


# ------------------------------------------------------------------------ paths and writing


def verdict_path(config: pytest.Config) -> Path:
    """--verdict-file, ini deployverify_verdict_file, else ``<report dir>/verdict.json``."""
    from pytest_deployverify import settings

    return settings.get(config).report.verdict_file


def report_locations(config: pytest.Config) -> dict[str, str | None]:
    """Where this session's reports go (the report component writes them and knows best)."""
    from pytest_deployverify import settings

    paths = settings.get(config).report.paths()
    paths["verdict"] = str(verdict_path(config))
    return paths


def write(verdict: Verdict, path: Path) -> Path:
    """Write the verdict JSON atomically (temp file in the same directory, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(verdict.to_dict(), indent=2, sort_keys=False, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".verdict-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    verdict.path = path
    return path


def schema() -> dict[str, Any]:
    """The verdict file's JSON Schema, shipped as package data."""
    from importlib import resources

    text = (
        resources.files("pytest_deployverify")
        .joinpath("schemas/verdict.schema.json")
        .read_text("utf-8")
    )
    return json.loads(text)


# ------------------------------------------------------------------------ assembling


def build(
    state: Any,
    facts: Facts,
    *,
    reports: Mapping[str, Any] | None = None,
    alerts: Sequence[Mapping[str, Any]] = (),
    rollback: Mapping[str, Any] | None = None,
) -> Verdict:
    """Decide and assemble the verdict document (redacted) from the state and the facts."""
    decision = decide(facts)
    checks, tests, cleanup = checks_and_tests(facts.evidence)
    identity, accounting = baseline_block(state.baseline)
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "verdict": decision.verdict,
        "recommendation": decision.recommendation,
        "reason": decision.reason,
        "reasons": decision.reasons,
        "started_at": state.started_at,
        "finished_at": utcnow(),
        "target": target_block(state),
        "baseline": identity,
        "counts": counts(facts.evidence, checks, facts.selected),
        "checks": checks,
        "tests": tests,
        "timings": [timing_entry(t) for t in facts.timings],
        "baseline_accounting": accounting,
        "cleanup": cleanup,
        "alerts": [dict(a) for a in alerts],
        "rollback": dict(rollback) if rollback else None,
        "reports": dict(reports or {}),
    }
    if facts.setup_error:
        data["setup_error"] = facts.setup_error
    data.update(fields_blocks(state.config, secrets_of(state)))
    data = _jsonable(redact(data, secrets_of(state)))
    return Verdict(decision.verdict, decision.recommendation, data["reason"], data)


def fields_blocks(config: pytest.Config, secrets: Sequence[str]) -> dict[str, Any]:
    """The ``coverage`` block (field coverage) and, after a mutation run, ``mutation``."""
    from pytest_deployverify import fieldcoverage_hooks, mutation

    blocks: dict[str, Any] = {"coverage": fieldcoverage_hooks.verdict_block(config, list(secrets))}
    result = mutation.verdict_block(config)
    if result is not None:
        blocks["mutation"] = result
    return blocks


def exit_status_for(verdict: str, pytest_status: int, inconclusive_code: int) -> int:
    """pytest's own status for pass and fail (but never 0 for a fail), the configured code
    for inconclusive; a run that itself broke (interrupted, internal or usage error) keeps
    pytest's status."""
    if pytest_status in _KEEP_STATUSES:
        return int(pytest_status)
    if verdict == "fail":
        return (
            int(pytest_status) if pytest_status not in (0, 5) else int(pytest.ExitCode.TESTS_FAILED)
        )
    if verdict == "inconclusive":
        return inconclusive_code
    return int(pytest_status)


# ------------------------------------------------------------------------ session glue
# Called from plugin.py's [verdict] hooks; everything below runs on the controller only.

WATCHER_NAME = "deployverify-verdict"


def is_active(config: pytest.Config) -> bool:
    """Whether this session uses deployverify, so it gets a verdict and its exit status.

    A project that merely has the plugin installed, or merely defines environments in
    ``[tool.deployverify]``, is left alone: the verdict needs an explicit deployverify option,
    a resolved target, baselines in use, or a test that recorded deployverify evidence
    (markers, checks, timings).
    """
    from pytest_deployverify import settings
    from pytest_deployverify.core import is_informational
    from pytest_deployverify.state import get_state

    if is_informational(config) or config.option.setuponly:
        return False
    state = get_state(config)
    if state.target is not None or _baseline_in_use(state.baseline):
        return True
    from pytest_deployverify.core import setup_error

    if setup_error(config) is not None:  # it tried to activate a target: its verdict says why
        return True
    given = settings.get(config).given
    for dest in (
        "deployverify_target_env",
        "deployverify_target_url",
        "deployverify_verdict_file",
        "deployverify_report_dir",
        "deployverify_alert_webhook",
        "deployverify_rollback_cmd",
        "deployverify_baseline_dir",
        "deployverify_record",
        "deployverify_fail_unverified",
    ):
        if given.get(dest):
            return True
    markers = {"critical", "perf", "nondestructive", "canary"}
    return any(
        ev.findings or ev.timings or ev.correlation_ids or markers & set(ev.markers)
        for ev in state.evidence.values()
    )


def _baseline_in_use(baseline: Any) -> bool:
    """The baseline session exists in every run; it counts once it recorded or compared."""
    if baseline is None or not hasattr(baseline, "accounting"):
        return False
    try:
        acc = baseline.accounting() or {}
    except Exception:  # a broken baseline session is the baseline component's to report
        return False
    keys = ("verified", "mismatched", "missing", "errors", "written", "updated", "unchanged")
    return bool(acc.get("record_mode")) or any(acc.get(k) for k in keys)


class Watcher:
    """Config-bound plugin object (controller only): counts collection errors, sends the
    first-failure alert as soon as a failing test's evidence arrives."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.collection_errors = 0

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        make_alerter(self.config)

    @pytest.hookimpl(tryfirst=True)  # before the report plugin closes its event stream
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        setup_error_finish(config)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.failed:
            return
        self.collection_errors += 1
        self._alert(report.nodeid or "<collection>", "error", False, report.longreprtext, [])

    @pytest.hookimpl(trylast=True)  # after EvidenceCollector stored the evidence
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        from pytest_deployverify.state import get_state

        ev = get_state(self.config).evidence.get(report.nodeid)
        if ev is None or ev.outcome not in ("failed", "error"):
            return
        failing = [
            {
                "name": f.check,
                "outcome": f.outcome,
                "rule": f.rule,
                "correlation_ids": list(f.correlation_ids),
            }
            for f in ev.findings
            if f.outcome in ("fail", "error")
        ]
        self._alert(
            ev.nodeid, ev.outcome, _is_critical(ev), ev.message, ev.correlation_ids, failing
        )

    def _alert(
        self,
        nodeid: str,
        outcome: str,
        critical: bool,
        message: str,
        cids: Sequence[str],
        failing: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        from pytest_deployverify.state import get_state

        state = get_state(self.config)
        alerter = state.alerter
        if alerter is None or alerter.first_failure_sent or not is_active(self.config):
            return
        secrets = secrets_of(state) if state.target is not None else []
        alerter.first_failure(
            nodeid=nodeid,
            outcome=outcome,
            critical=critical,
            message=redact(_short(message, 300), secrets),
            correlation_ids=list(cids),
            failing_checks=list(failing),
            target=target_block(state) if state.target is not None else {},
            reports=report_locations(self.config),
        )


def make_alerter(config: pytest.Config) -> Any:
    """The session's Alerter (state.alerter) when a webhook is configured, else None."""
    from pytest_deployverify import settings
    from pytest_deployverify.alerts import Alerter
    from pytest_deployverify.state import get_state

    state = get_state(config)
    url = settings.get(config).verdict.alert_webhook
    if state.alerter is not None or url is None:
        return state.alerter
    state.alerter = Alerter(url)
    return state.alerter


def gather_facts(session: pytest.Session, record_mode: bool) -> Facts:
    """The facts of this session, timings judged."""
    from pytest_deployverify import settings
    from pytest_deployverify.perf import (
        add_history_note,
        collect_plans,
        collect_samples,
        judge_timings,
        session_reference,
    )
    from pytest_deployverify.state import get_state

    config = session.config
    state = get_state(config)
    cfg = settings.get(config)
    perf = cfg.perf
    watcher = config.pluginmanager.get_plugin(WATCHER_NAME)
    timings: list[TimingResult] = []
    if not record_mode:
        samples, groups = collect_samples(state.evidence)
        ref = session_reference(config, sorted(state.evidence))
        add_history_note(config, ref.warning and f"timing history: {ref.warning}")
        plans = collect_plans(state.evidence)
        timings = judge_timings(samples, groups, ref.samples, perf, plans, ref.label, ref.detail)
    state.timing_results = timings
    accounting = None
    if state.baseline is not None and hasattr(state.baseline, "accounting"):
        accounting = state.baseline.accounting()
    from pytest_deployverify.core import setup_error

    error = setup_error(config)
    from pytest_deployverify import fieldcoverage_hooks

    return Facts(
        unchecked=fieldcoverage_hooks.unchecked_names(config),
        fail_unchecked=fieldcoverage_hooks.fail_unchecked(config),
        setup_error=error.message if error is not None else None,
        evidence=state.evidence,
        selected=int(getattr(session, "testscollected", 0) or 0),
        collection_errors=getattr(watcher, "collection_errors", 0),
        timings=timings,
        accounting=accounting,
        record_mode=record_mode,
        fail_unverified=cfg.baseline.fail_unverified,
        external_fails=perf.external_fails,
        interrupted=bool(session.shouldstop) and not session.testsfailed,
    )


def session_finish(session: pytest.Session, exitstatus: int) -> Verdict | None:
    """Session end on the controller: judge timings -> verdict -> verdict file -> summary
    alert -> rollback gate -> verdict file again -> exit status. Returns the verdict."""
    from pytest_deployverify import settings
    from pytest_deployverify.state import get_state

    config = session.config
    if hasattr(config, "workerinput") or not is_active(config):
        return None
    cfg = settings.get(config)
    state = get_state(config)
    record_mode = cfg.baseline.record
    if state.baseline is not None and hasattr(state.baseline, "accounting"):
        with contextlib.suppress(Exception):
            record_mode = record_mode or bool(state.baseline.accounting().get("record_mode"))
    facts = gather_facts(session, record_mode)
    reports = report_locations(config)
    path = verdict_path(config)
    verdict = build(state, facts, reports=reports)
    # written before alerts and rollback: a pipeline has its answer even if those misbehave
    write(verdict, path)
    state.verdict = verdict
    from pytest_deployverify.perf import add_history_note, record_history

    version = (verdict.get("target") or {}).get("deployment_version")
    add_history_note(
        config, record_history(config, state.evidence, verdict.verdict, version, record_mode)
    )

    rechecking = cfg.verdict.rechecking
    alerter = state.alerter
    if alerter is not None:
        alerter.summary(verdict.to_dict())
    rollback_block = None
    command = cfg.verdict.rollback_cmd
    if verdict.verdict == "fail" and command and not rechecking and not record_mode:
        from pytest_deployverify.rollback import run_gate

        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"deployverify: verdict is fail, running the rollback command "
                f"(up to {cfg.verdict.rollback_timeout:g} s)"
            )
        rollback_block = run_gate(
            config,
            command=command,
            timeout=cfg.verdict.rollback_timeout,
            evidence=state.evidence,
            target=state.target,
            secrets=secrets_of(state) if state.target is not None else [],
        )
        if alerter is not None:
            alerter.rollback(verdict.to_dict(), rollback_block)
    if alerter is not None or rollback_block is not None:
        alerts = [r.to_dict() for r in alerter.results] if alerter is not None else []
        verdict = build(state, facts, reports=reports, alerts=alerts, rollback=rollback_block)
        write(verdict, path)
        state.verdict = verdict

    status = exit_status_for(verdict.verdict, int(exitstatus), cfg.verdict.inconclusive_exit_code)
    verdict.exit_status = status
    state.exit_status = status
    session.exitstatus = status
    return verdict


def setup_error_finish(config: pytest.Config) -> Verdict | None:
    """The verdict file when activation failed and ``pytest_sessionfinish`` never ran.

    Under xdist the target is activated in the controller's ``pytest_sessionstart``; a usage
    error there skips ``pytest_sessionfinish``, which would leave an earlier run's verdict
    file in place for a release gate to read. Called at unconfigure: writes the inconclusive
    set-up-error verdict unless :func:`session_finish` already wrote one (a serial run).
    The exit status stays pytest's usage error.
    """
    from pytest_deployverify.core import setup_error
    from pytest_deployverify.state import get_state

    state = get_state(config)
    error = setup_error(config)
    if error is None or state.verdict is not None or hasattr(config, "workerinput"):
        return None
    if not is_active(config):
        return None
    facts = Facts(evidence=state.evidence, setup_error=error.message)
    verdict = build(state, facts, reports=report_locations(config))
    write(verdict, verdict_path(config))
    verdict.exit_status = state.exit_status = int(pytest.ExitCode.USAGE_ERROR)
    state.verdict = verdict
    return verdict


def summary_lines(config: pytest.Config) -> list[str]:
    """The terminal summary: the verdict line, then alert and rollback notes."""
    from pytest_deployverify.state import get_state

    state = get_state(config)
    verdict = state.verdict
    if verdict is None:
        return []
    action = {"promote": "promote", "hold": "hold", "roll_back": "roll back"}[
        verdict.recommendation
    ]
    lines = [f"deployverify verdict: {verdict.verdict.upper()} -> {action}: {verdict.reason}"]
    data = verdict.to_dict()
    from pytest_deployverify.perf import history_notes

    judged = data.get("timings") or []
    refs = sorted({(t.get("reference"), t.get("reference_detail") or "") for t in judged})
    for label, detail in refs:
        lines.append(f"  timings judged against the {label}" + (f": {detail}" if detail else ""))
    for t in judged:
        if t["outcome"] != "pass":
            lines.append(f"  timing {t['outcome']}: {t['reason']}")
    lines.extend(f"  {note}" for note in history_notes(config))
    for alert in data.get("alerts") or []:
        if not alert.get("ok"):
            lines.append(
                f"  WARNING: {alert['kind']} alert to {alert.get('endpoint') or 'the webhook'} "
                f"not delivered ({alert.get('error')}); the run's result is unaffected"
            )
    rb = data.get("rollback")
    if rb:
        recheck = rb.get("recheck") or {}
        lines.append(
            f"  rollback: command exited {rb.get('exit_code')} in {rb.get('duration_s')} s"
            + (f" ({rb['error']})" if rb.get("error") else "")
            + (
                f"; critical re-check {recheck.get('verdict')} ({recheck.get('passed')} passed, "
                f"{recheck.get('failed')} failed)"
                if recheck
                else ""
            )
            + ("; baseline behaviour restored" if rb.get("restored") else "; NOT restored")
        )
    if verdict.path is not None:
        lines.append(f"  verdict file: {verdict.path}")
    return lines

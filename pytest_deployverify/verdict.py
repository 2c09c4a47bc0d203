"""The session verdict: one answer a release pipeline can act on.

``decide`` holds the rules (pure: facts in, decision out); ``build`` assembles the verdict
document (``docs/architecture.md``, "Verdict JSON") from the decision and what the session
object gathered; ``write`` puts it on disk atomically. The session end that calls them, in
order, is :meth:`pytest_deployverify.session.DeployVerifySession.finish`.

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

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_deployverify.evidence import Finding, TestEvidence
from pytest_deployverify.redact import redact_value

if TYPE_CHECKING:  # the judge is loaded only by a session with timings
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


# ------------------------------------------------------------------------ the rules


@dataclass
class Facts:
    """What the verdict is decided on; gathered by the session object at session end."""

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


def short(text: str, limit: int = 160) -> str:
    """The line of a failure message that says what failed (pytest's ``E`` line)."""
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    for ln in (text or "").splitlines():  # pytest puts the assertion on an "E   " line
        if ln.startswith("E "):
            line = ln[1:].strip()
            break
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _describe_failures(kind: str, first: TestEvidence, n: int) -> str:
    what = "errored" if first.outcome == "error" else "failed"
    if first.outcome == "unknown":
        what = "did not finish"
    detail = short(first.message)
    text = f"{kind} test {first.nodeid} {what}" + (f" ({detail})" if detail else "")
    if n > 1:
        text += f" and {_plural(n - 1, 'more test')} did not pass"
    return text


@dataclass
class Tally:
    """What the rules need from the tests' evidence: counts and the first example of each
    kind of trouble, in arrival order. Updated once per test (:meth:`add`), so the provisional
    verdict after each test costs the same whatever the number of tests before it."""

    tests: int = 0
    passed: int = 0
    skipped: int = 0
    bad: int = 0
    first_bad: TestEvidence | None = None
    critical_bad: int = 0
    first_critical_bad: TestEvidence | None = None
    checks: int = 0
    first_bad_finding: Finding | None = None
    first_inconclusive_finding: Finding | None = None
    #: fail fast's first proof that a part of the deployment is broken
    first_proof: Finding | None = None

    @classmethod
    def of(cls, evidence: Iterable[TestEvidence]) -> Tally:
        tally = cls()
        for ev in evidence:
            tally.add(ev)
        return tally

    def add(self, ev: TestEvidence) -> None:
        self.tests += 1
        if ev.outcome == "passed":
            self.passed += 1
        elif ev.outcome == "skipped":
            self.skipped += 1
        elif ev.outcome in ("failed", "error", "unknown"):
            self.bad += 1
            self.first_bad = self.first_bad or ev
            if _is_critical(ev):
                self.critical_bad += 1
                self.first_critical_bad = self.first_critical_bad or ev
        self.checks += len(ev.findings)
        for f in ev.findings:
            if f.outcome in ("fail", "error") and f.kind == "failfast" and not self.first_proof:
                self.first_proof = f
            if f.outcome in ("fail", "error") and self.first_bad_finding is None:
                self.first_bad_finding = f
            elif f.outcome == "inconclusive" and self.first_inconclusive_finding is None:
                self.first_inconclusive_finding = f


def decide(facts: Facts, tally: Tally | None = None) -> Decision:
    """The verdict for ``facts``: fail, inconclusive or pass, with the reason in one sentence.

    ``tally``: the evidence's tally when the caller keeps one (else it is counted here)."""
    t = tally if tally is not None else Tally.of(facts.evidence.values())
    fails: list[str] = []
    holds: list[str] = []

    if t.first_critical_bad is not None:
        fails.append(_describe_failures("critical", t.first_critical_bad, t.critical_bad))
    if facts.collection_errors:
        fails.append(f"{_plural(facts.collection_errors, 'collection error')} (tests not run)")
    if t.first_bad is not None and t.first_critical_bad is None:
        fails.append(_describe_failures("the", t.first_bad, t.bad))

    if t.first_proof is not None:  # fail fast: the cause of every "not run" after it
        fails.insert(0, t.first_proof.message)
    f = t.first_bad_finding
    if f is not None:
        word = "could not be made" if f.outcome == "error" else "failed"
        fails.append(
            f"check {f.check} {word}"
            + (f" in {f.nodeid}" if f.nodeid else "")
            + (f": {short(f.message)}" if f.message else "")
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
    write_failed = list(acc.get("write_failed") or [])
    if facts.record_mode and write_failed:
        fails.append(f"baseline file not written: {write_failed[0]}" + _more(write_failed))

    if not facts.record_mode:
        for timing in facts.timings:
            if timing.group == "external" and not facts.external_fails:
                if timing.outcome == "fail":
                    who = (
                        f"{timing.service} slower" if timing.service else "external services slower"
                    )
                    holds.append(f"external: {who}: {timing.reason}; not our regression, hold")
                continue
            if timing.outcome == "fail":
                fails.append(f"timing {timing.reason}")
            elif timing.outcome == "inconclusive":
                holds.append(f"timing {timing.reason}")

    if facts.setup_error:
        # the cause, not only its consequence: a gate reading "no test ran" cannot act on it
        holds.insert(
            0,
            f"no test ran: {facts.setup_error}"
            if not t.tests
            else f"the target could not be set up: {facts.setup_error}",
        )
    elif not t.tests:
        holds.insert(0, "no test ran, so nothing was verified")
    elif t.passed == 0 and not t.bad:
        holds.insert(0, f"{_all_were(t.tests, 'test')} skipped, nothing was verified")
    not_run = max(0, facts.selected - t.tests)
    if not_run:
        holds.append(f"{_plural(not_run, 'selected test')} did not run")
    if facts.interrupted and not fails:
        holds.append("the run was interrupted before it finished")
    if facts.fail_unchecked and facts.unchecked and not facts.record_mode:
        holds.append(
            f"{_plural(len(facts.unchecked), 'response field')} no check touched "
            f"(--fail-unchecked): {', '.join(facts.unchecked[:5])}" + _more(facts.unchecked[4:])
        )
    f = t.first_inconclusive_finding
    if f is not None:
        holds.append(
            f"check {f.check} was inconclusive" + (f": {short(f.message)}" if f.message else "")
        )

    if fails:
        return Decision("fail", _sentence(fails[0]), fails + holds)
    if holds:
        return Decision("inconclusive", _sentence(holds[0]), holds)
    timings = sum(1 for timing in facts.timings if timing.outcome == "pass")
    # "1 test passed", not "all 1 test passed" (others may have been skipped)
    what = f"all {t.passed} tests passed" if t.passed != 1 else "1 test passed"
    if t.skipped:
        what += f" ({t.skipped} skipped)"
    if t.checks:
        what += f", {_plural(t.checks, 'check')} held"
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
    """The verdict document (``docs/architecture.md``, "Verdict JSON") with its decision,
    built by :func:`pytest_deployverify.verdict_document.build`; nothing in it is a secret."""

    verdict: str
    recommendation: str
    reason: str
    data: dict[str, Any]
    path: Path | None = None
    exit_status: int | None = None

    def record_actions(
        self,
        alerts: Sequence[Mapping[str, Any]],
        rollback: Mapping[str, Any] | None,
        secrets: Sequence[str] = (),
    ) -> None:
        """Add what the session end did after deciding (alerts sent, the rollback gate)."""
        self.data["alerts"] = jsonable(redact_value([dict(a) for a in alerts], secrets))
        self.data["rollback"] = (
            jsonable(redact_value(dict(rollback), secrets)) if rollback else None
        )


def finite(value: Any) -> Any:
    """JSON has no infinity: an unbounded interval end becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (what the file will hold when read back); no infinity or
    NaN (they become null, as :func:`finite` does) in one pass of json's C code."""
    return json.loads(json.dumps(value, default=str), parse_constant=_null)


def _null(_constant: str) -> None:
    return None


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

"""The one ``deployverify`` section of pytest's terminal summary: target, clean-up, verdict,
baselines, and any session-end step that failed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pytest_deployverify.baseline.session import BaselineSession
from pytest_deployverify.config import Target
from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.verdict import Verdict

SECTION = "deployverify"


def target_lines(target: Target | None, evidence: Mapping[str, TestEvidence]) -> list[str]:
    """The target and the clean-up of synthetic documents."""
    lines: list[str] = []
    if target is not None:
        how = "embedded deployment" if target.embedded else f"from {target.url_source}"
        lines.append(
            f"target {target.name!r} at {target.base_url} ({how})"
            + (", protected" if target.protected else "")
        )
    results = [c for ev in evidence.values() for c in ev.cleanup]
    if results:
        counts: dict[str, int] = {}
        for c in results:
            counts[c.result] = counts.get(c.result, 0) + 1
        text = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        lines.append(f"cleanup of synthetic documents: {text}")
        for c in results:
            if c.result == "failed":
                lines.append(
                    f"  NOT deleted: document {c.document_id} ({c.filename}), "
                    f"correlation ID {c.correlation_id}: {c.reason}"
                )
    return lines


def verdict_lines(verdict: Verdict | None, notes: Sequence[str] = ()) -> list[str]:
    """The verdict line, then timing (with the timing history's ``notes``), alert and
    rollback notes."""
    if verdict is None:
        return []
    action = {"promote": "promote", "hold": "hold", "roll_back": "roll back"}[
        verdict.recommendation
    ]
    lines = [f"deployverify verdict: {verdict.verdict.upper()} -> {action}: {verdict.reason}"]
    data = verdict.data
    if data.get("run_id"):
        lines.append(f"  run id: {data['run_id']}")
    judged = data.get("timings") or []
    refs = sorted({(t.get("reference"), t.get("reference_detail") or "") for t in judged})
    for label, detail in refs:
        lines.append(f"  timings judged against the {label}" + (f": {detail}" if detail else ""))
    for t in judged:
        if t["outcome"] != "pass":
            lines.append(f"  timing {t['outcome']}: {t['reason']}")
    lines.extend(f"  {note}" for note in notes)
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


def baseline_lines(baseline: BaselineSession) -> list[str]:
    """The baseline accounting, when this run recorded or compared anything."""
    acc = baseline.accounting()
    keys = ("verified", "mismatched", "missing", "errors", "not_verified", "unused_files")
    if not (baseline.record_mode or any(acc[k] for k in keys)):
        return []
    return baseline.summary_lines()


def lines(
    target: Target | None,
    evidence: Mapping[str, TestEvidence],
    verdict: Verdict | None,
    baseline: BaselineSession | None,
    failed_steps: Sequence[str],
    notes: Sequence[str] = (),
) -> list[str]:
    """Every line of the section, in the order of the run."""
    out = target_lines(target, evidence) + verdict_lines(verdict, notes)
    if baseline is not None:
        out += baseline_lines(baseline)
    out += [f"  WARNING: session end: {step}" for step in failed_steps]
    return out

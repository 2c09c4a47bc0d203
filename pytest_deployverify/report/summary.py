"""``reports/summary.md``: the testing summary a release PR or ticket takes.

Same facts as the HTML page (both read :mod:`model`), in GitHub-flavoured markdown: verdict,
deployment and baseline identities, deployment completeness, behaviour checks, the
performance comparison table, failures with correlation IDs, and clean-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_deployverify.report import fields, model
from pytest_deployverify.report.context import ReportContext, scrub_known


def cell(value: Any) -> str:
    """Text safe inside a markdown table cell: one line, pipes escaped."""
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return text.replace("|", "\\|") or "-"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out


def _cids(ctx: ReportContext, cids: Sequence[str]) -> str:
    parts = []
    for cid in cids:
        links = ", ".join(f"[{label}]({url})" for label, url in ctx.links.links(cid))
        parts.append(f"`{cid}`" + (f" ({links})" if links else ""))
    return ", ".join(parts) or "-"


def _failures(ctx: ReportContext) -> list[str]:
    lines = ["## Failures", ""]
    fails = model.failures(ctx.verdict)
    for f in fails:
        crit = " (critical)" if f["critical"] else ""
        lines.append(
            f"- **{f['outcome']}**{crit} {f['kind']} `{f['what']}`: {f['message'] or '-'} "
            f"\u2014 correlation IDs: {_cids(ctx, f['correlation_ids'])}"
        )
        lines += _replays(f.get("replays") or [])
    return lines if fails else [*lines, "None."]


def _replays(replays: Sequence[tuple[str, str]]) -> list[str]:
    """Each replay as a fenced shell block inside the failure's list item."""
    out: list[str] = []
    for label, command in replays:
        out += ["", f"  Replay {label}:", "", "  ```sh"]
        out += [f"  {line}" for line in command.splitlines()]
        out += ["  ```", ""]
    return out


def render_summary(ctx: ReportContext) -> str:
    """The whole markdown document."""
    v = ctx.verdict
    verdict = str(v.get("verdict") or "unknown")
    rec = str(v.get("recommendation") or "")
    target = v.get("target") or {}
    base = v.get("baseline") or {}
    counts = v.get("counts") or {}
    lines: list[str] = [
        "# Deployment verification summary",
        "",
        f"**Verdict: {model.VERDICT_WORDS.get(verdict, verdict.upper())}** \u2014 "
        f"{model.RECOMMENDATION_WORDS.get(rec, rec or 'no recommendation')}.",
        "",
        f"> {v.get('reason') or 'No verdict was built for this run.'}",
        "",
        f"Run ID: `{ctx.run_id or '-'}`",
        "",
        # what went wrong comes first: a person signing off must not hunt for it
        *_failures(ctx),
        "",
        "## Deployment and baseline",
        "",
        *_table(
            ["", "Verified deployment", "Baseline"],
            [
                ["Environment / set", target.get("name"), base.get("dir")],
                ["URL / recorded from", target.get("base_url"), base.get("recorded_from")],
                [
                    "Deployment version",
                    model.version_text(target.get("deployment_version")),
                    model.version_text(base.get("deployment_version")),
                ],
                [
                    "When",
                    f"{v.get('started_at', '-')} \u2192 {v.get('finished_at', '-')}",
                    base.get("recorded_at"),
                ],
                [
                    "Protected / checksum",
                    "yes" if target.get("protected") else "no",
                    base.get("checksum"),
                ],
            ],
        ),
        "",
        f"Totals: {counts.get('tests', 0)} tests ({counts.get('passed', 0)} passed, "
        f"{counts.get('failed', 0)} failed, {counts.get('errors', 0)} errors, "
        f"{counts.get('skipped', 0)} skipped); {counts.get('checks', 0)} checks "
        f"({counts.get('checks_failed', 0)} failed, {counts.get('checks_inconclusive', 0)} inconclusive).",
        "",
        fields.coverage_line(v),
        "",
        *([line, ""] if (line := model.reference_line(v)) else []),
        "## Deployment completeness",
        "",
        *_table(
            ["Component", "Observed state", "Evidence"],
            [
                [
                    row.label,
                    row.state,
                    "; ".join(
                        f"{c.get('name')}: {c.get('outcome')} {model.first_line(c.get('message'), 120)}"
                        for c in row.checks
                    )
                    or "no check covered it",
                ]
                for row in model.component_rows(v)
            ],
        ),
        "",
        "## Behaviour checks",
        "",
    ]
    everything = model.behaviour_checks(v)
    behaviour = [c for c in everything if c.get("outcome") != "pass"]
    passed = model.count_by_kind(c for c in everything if c.get("outcome") == "pass")
    if passed:
        lines += [
            "Passed: "
            + ", ".join(f"{n} {kind}" for kind, n in passed)
            + " (listed one by one in the HTML report).",
            "",
        ]
    if behaviour and model.has_sides(behaviour):
        # a run against a reference deployment: each difference on all three sides
        lines += _table(
            ["Result", "Check", "Path", *(label for _, label in model.SIDES), "Rule", "Test"],
            [
                [
                    model.OUTCOME_LABELS.get(str(c.get("outcome")), c.get("outcome")),
                    c.get("name"),
                    c.get("path") or "",
                    *(
                        f"`{model.show_value(model.sides_of(c)[key], 120)}`"
                        for key, _ in model.SIDES
                    ),
                    c.get("rule"),
                    c.get("nodeid"),
                ]
                for c in behaviour
            ],
        )
    elif behaviour:
        lines += _table(
            ["Result", "Check", "Path", "Expected", "Observed", "Rule", "Test"],
            [
                [
                    model.OUTCOME_LABELS.get(str(c.get("outcome")), c.get("outcome")),
                    c.get("name"),
                    c.get("path") or "",
                    ""
                    if c.get("outcome") == "pass"
                    else f"`{model.show_value(c.get('expected'), 120)}`",
                    ""
                    if c.get("outcome") == "pass"
                    else f"`{model.show_value(c.get('observed'), 120)}`",
                    c.get("rule"),
                    c.get("nodeid"),
                ]
                for c in behaviour
            ],
        )
    elif not passed:
        lines.append("No behaviour checks ran.")
    acc = v.get("baseline_accounting") or {}
    if acc:
        summary = ", ".join(
            f"{len(acc[k])} {k.replace('_', ' ')}"
            for k in ("verified", "mismatched", "missing", "not_verified", "unused_files")
            if isinstance(acc.get(k), list)
        )
        lines += ["", f"Baseline accounting: {summary}."]
        for key in ("not_verified", "missing"):
            for item in (acc.get(key) or [])[:20]:
                lines.append(f"- {key.replace('_', ' ')}: `{item}`")
    lines += ["", "## Performance", ""]
    timings = v.get("timings") or []
    if timings:
        lines += _table(
            [
                "Timing",
                "Group",
                "Reference median (n, which)",
                "Target median (n)",
                "Ratio (interval)",
                "Allowed",
                "Outcome",
                "Why",
            ],
            [
                [
                    t.get("name"),
                    t.get("group"),
                    f"{model.fmt_seconds((t.get('baseline') or {}).get('median'))} "
                    f"({(t.get('baseline') or {}).get('n', '-')}, {t.get('reference') or 'baseline'})",
                    f"{model.fmt_seconds((t.get('target') or {}).get('median'))} ({(t.get('target') or {}).get('n', '-')})",
                    model.fmt_ratio(t),
                    f"{t['allowed_ratio']:.2f}x"
                    if isinstance(t.get("allowed_ratio"), (int, float))
                    else "-",
                    t.get("outcome"),
                    t.get("reason") or t.get("rule"),
                ]
                for t in timings
            ],
        )
    else:
        lines.append("No timings were recorded.")
    observed = v.get("observed_timings") or []
    if observed:
        shown = ", ".join(
            f"`{t.get('name')}` {model.fmt_seconds(t.get('median'))} (n={t.get('n')})"
            for t in observed
        )
        lines += ["", f"Observed, not judged (client-observed first sightings): {shown}."]
    lines += ["", "## Clean-up", ""]
    cleanup = v.get("cleanup") or []
    if cleanup:
        lines += _table(
            ["Document", "Removed", "Status", "Why", "Test"],
            [
                [
                    c.get("document_id"),
                    model.cleanup_removed(c),
                    c.get("status"),
                    c.get("error"),
                    c.get("nodeid"),
                ]
                for c in cleanup
            ],
        )
    else:
        lines.append("No synthetic documents to clean up.")
    rollback = v.get("rollback")
    if isinstance(rollback, dict):
        lines += [
            "",
            f"Rollback: `{rollback.get('command')}` exited {rollback.get('exit_code')}; "
            f"re-check {(rollback.get('recheck') or {}).get('verdict', '-')}; restored: {rollback.get('restored')}.",
        ]
    lines += ["", "## Files", ""]
    reports = v.get("reports") or {}
    for key in ("verdict", "html", "summary", "events"):
        if reports.get(key):
            lines.append(f"- {key}: `{reports[key]}`")
    if ctx.verdict_sha256:
        lines.append(f"- verdict SHA-256: `{ctx.verdict_sha256}`")
    lines.append("")
    return scrub_known("\n".join(lines), ctx.secrets)

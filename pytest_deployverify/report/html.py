"""The sign-off page: the deployverify sections of the pytest-html report.

pytest-html owns the page and its results table; we hand it one block of static HTML (in
``pytest_html_results_summary``) holding everything a stakeholder signs off: the verdict
banner, deployment completeness, behaviour, performance with inline SVG charts, per-test
details with correlation links, request logs and pipeline timelines, cleanup, and the
sign-off block. The block is plain HTML + CSS, so it reads (and prints) without JavaScript;
one small inline script only moves it up to sit right under the page title.

Every string comes from a :class:`~pytest_deployverify.report.context.ReportContext`, which
is already redacted, and every string is HTML-escaped here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_deployverify.report import fields, model, svg
from pytest_deployverify.report.context import ReportContext, scrub_known
from pytest_deployverify.report.html_parts import (
    cid_inline,
    e,
    outcome_tag,
    replay_html,
    slug,
)
from pytest_deployverify.report.html_style import CSS, MOVE_SCRIPT
from pytest_deployverify.report.html_tests import render_tests

REPORT_ID = "dv-report"
BANNER_ID = "dv-banner"


# ---------------------------------------------------------------- page


def render_report(ctx: ReportContext) -> str:
    """The whole deployverify block for the pytest-html summary."""
    parts = [
        f'<section id="{REPORT_ID}" class="dv">',
        f"<style>{CSS}</style>",
        render_banner(ctx),
        _contents(),
        render_components(ctx),
        render_behaviour(ctx),
        render_performance(ctx),
        fields.render_section(ctx.verdict),
        render_tests(ctx),
        render_cleanup(ctx),
        render_signoff(ctx),
        f"<script>{MOVE_SCRIPT}</script>",
        "</section>",
    ]
    return scrub_known("".join(parts), ctx.secrets)


def _contents() -> str:
    links = [
        ("dv-completeness", "Deployment completeness"),
        ("dv-behaviour", "Behaviour"),
        ("performance", "Performance"),
        (fields.SECTION_ID, fields.TITLE),
        ("dv-tests", "Per-test details"),
        ("dv-cleanup", "Clean-up"),
        ("dv-signoff", "Sign-off"),
    ]
    items = "".join(f'<li><a href="#{a}">{e(t)}</a></li>' for a, t in links)
    return f'<nav class="dv-nav dv-noprint"><ul>{items}</ul></nav>'


# ---------------------------------------------------------------- banner


def render_banner(ctx: ReportContext) -> str:
    """Verdict, recommendation, why, and what was compared with what."""
    v = ctx.verdict
    verdict = str(v.get("verdict") or "unknown")
    rec = str(v.get("recommendation") or "")
    target = v.get("target") or {}
    base = v.get("baseline") or {}
    if not v:
        return (
            f'<div id="{BANNER_ID}" class="dv-banner dv-verdict-unknown" role="status">'
            '<div class="dv-verdict-word">NO VERDICT</div>'
            '<p class="dv-reason">The run ended before a verdict was built; do not promote. '
            "See the test results below.</p>"
            f'<p class="dv-when">Run ID: <code class="dv-run-id">{e(ctx.run_id or "-")}</code></p>'
            "</div>"
        )
    target_rows = [
        ("Environment", _target_name(target)),
        ("URL", target.get("base_url")),
        ("Deployment version", model.version_text(target.get("deployment_version"))),
    ]
    base_rows = [
        ("Baseline set", base.get("dir")),
        ("Recorded from", base.get("recorded_from")),
        ("Recorded at", base.get("recorded_at")),
        ("Baseline deployment version", model.version_text(base.get("deployment_version"))),
        ("Baseline checksum", _short_hash(base.get("checksum"))),
    ]
    when = f"{v.get('started_at', '?')} \u2192 {v.get('finished_at', '?')}"
    return (
        f'<div id="{BANNER_ID}" class="dv-banner dv-verdict-{e(verdict)}" role="status" '
        f'data-verdict="{e(verdict)}" data-recommendation="{e(rec)}">'
        '<div class="dv-banner-head">'
        f'<div class="dv-verdict-word">{e(model.VERDICT_WORDS.get(verdict, verdict.upper()))}</div>'
        f'<div class="dv-recommendation">{e(model.RECOMMENDATION_WORDS.get(rec, rec))}</div>'
        "</div>"
        f'<p class="dv-reason">{e(v.get("reason") or "")}</p>'
        '<div class="dv-identity">'
        f'<div class="dv-id-block"><h3>Verified deployment</h3>{_dl(target_rows)}</div>'
        f'<div class="dv-id-block"><h3>Compared against baseline</h3>{_dl(base_rows)}</div>'
        "</div>"
        f'<p class="dv-when">Run: {e(when)}, run ID '
        f'<code class="dv-run-id">{e(ctx.run_id or "-")}</code></p>'
        "</div>"
    )


def _target_name(target: Mapping[str, Any]) -> str:
    name = str(target.get("name") or "?")
    notes = []
    if target.get("protected"):
        notes.append("protected / production")
    if target.get("launched"):
        notes.append("started by this run")
    return name + (f" ({', '.join(notes)})" if notes else "")


def _short_hash(value: Any) -> str:
    text = str(value or "")
    return text[:16] + "\u2026" if len(text) > 20 else (text or "-")


def _dl(rows: Sequence[tuple[str, Any]]) -> str:
    body = "".join(
        f"<dt>{e(k)}</dt><dd>{e(val if val not in (None, '') else '-')}</dd>" for k, val in rows
    )
    return f"<dl>{body}</dl>"


# ---------------------------------------------------------------- components


def render_components(ctx: ReportContext) -> str:
    """Each part of the deployment with its observed state and the evidence for it."""
    rows = []
    for row in model.component_rows(ctx.verdict):
        if row.checks:
            evidence = "".join(
                f'<div class="dv-evidence">{outcome_tag(c.get("outcome"))} '
                f"<b>{e(c.get('name'))}</b>: {e(model.first_line(c.get('message')))}"
                f"{_observed_inline(c.get('observed'))}"
                f"{cid_inline(ctx, c.get('correlation_ids'))}"
                f"{replay_html(model.check_replays(c))}</div>"
                for c in row.checks
            )
        else:
            evidence = '<span class="dv-muted">No test in this run checked this component.</span>'
        rows.append(
            f'<tr class="dv-comp dv-state-{e(row.outcome or "none")}" data-component="{e(row.key)}">'
            f'<th>{e(row.label)}</th><td class="dv-state">{e(row.state)}</td><td>{evidence}</td></tr>'
        )
    return (
        '<section id="dv-completeness" class="dv-section"><h2>Deployment completeness</h2>'
        '<p class="dv-help">Is every part of the deployment actually running? A part no check '
        'covered says "not checked": that is not the same as working.</p>'
        '<table class="dv-table"><thead><tr><th>Component</th><th>Observed state</th>'
        f"<th>Evidence</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _observed_inline(observed: Any) -> str:
    if observed in (None, "", {}, []):
        return ""
    return f' <code class="dv-observed">{e(model.show_value(observed, 300))}</code>'


# ---------------------------------------------------------------- behaviour


def render_behaviour(ctx: ReportContext) -> str:
    """Each behaviour check; mismatches show expected and observed side by side per path."""
    groups = model.group_by_name(model.behaviour_checks(ctx.verdict))
    # problems first: a reader signing off must not scroll past 40 passes to find the one fail
    groups.sort(key=lambda g: model.severity(model.worst(c.get("outcome", "error") for c in g[1])))
    blocks = []
    #: kind -> blocks of groups whose every check passed: counted and folded away
    passed: dict[str, list[str]] = {}
    passed_checks: list[dict[str, Any]] = []
    for name, checks in groups:
        outcome = model.worst(c.get("outcome", "error") for c in checks) or "error"
        nodeid = checks[0].get("nodeid") or ""
        critical = any(c.get("critical") for c in checks)
        problems = [c for c in checks if c.get("outcome") != "pass"]
        detail = ""
        if problems and model.has_sides(problems):
            detail = _sides_table(problems)
        elif problems:
            rows = "".join(
                "<tr>"
                f"<td>{outcome_tag(c.get('outcome'))}</td>"
                f"<td><code>{e(c.get('path') or '(whole value)')}</code></td>"
                f'<td class="dv-expected"><pre>{e(model.show_value(c.get("expected")))}</pre></td>'
                f'<td class="dv-observed-cell"><pre>{e(model.show_value(c.get("observed")))}</pre></td>'
                f'<td>{e(c.get("rule"))}<div class="dv-muted">{e(model.first_line(c.get("message")))}</div>'
                f"{replay_html(model.check_replays(c))}</td>"
                "</tr>"
                for c in problems
            )
            detail = (
                '<table class="dv-table dv-diff"><thead><tr><th>Result</th><th>Path</th>'
                "<th>Expected (baseline)</th><th>Observed (this deployment)</th><th>Rule</th>"
                f"</tr></thead><tbody>{rows}</tbody></table>"
            )
        else:
            rules = sorted({str(c.get("rule") or "") for c in checks} - {""})
            detail = f'<div class="dv-muted">Rule: {e("; ".join(rules) or "-")}</div>'
        cids = sorted({cid for c in checks for cid in c.get("correlation_ids") or []})
        block = (
            f'<div class="dv-check dv-outcome-{e(outcome)}" data-check="{e(name)}" '
            f'data-outcome="{e(outcome)}">'
            f"<h3>{outcome_tag(outcome)} {e(name)}"
            f"{' <span class=dv-critical>critical</span>' if critical else ''}</h3>"
            f'<div class="dv-muted">{e(nodeid)} \u00b7 {len(checks)} check(s)'
            f"{cid_inline(ctx, cids)}</div>{detail}</div>"
        )
        if outcome == "pass":
            passed.setdefault(str(checks[0].get("kind") or "check"), []).append(block)
            passed_checks.extend(checks)
        else:
            blocks.append(block)
    for kind, count in model.count_by_kind(passed_checks):
        blocks.append(
            f'<details class="dv-passed" data-kind="{e(kind)}"><summary>{outcome_tag("pass")} '
            f"{count} {e(kind)} check(s) passed</summary>{''.join(passed.get(kind, []))}</details>"
        )
    if not blocks:
        blocks.append('<p class="dv-muted">No behaviour checks ran.</p>')
    return (
        '<section id="dv-behaviour" class="dv-section"><h2>Behaviour</h2>'
        '<p class="dv-help">Does the deployment respond like the recorded baseline? For each '
        "difference: where (path), what the baseline had, what this deployment returned, and "
        "the rule it was held to.</p>"
        + (f"<p>{e(line)}</p>" if (line := model.reference_line(ctx.verdict)) else "")
        + f"{''.join(blocks)}{_accounting(ctx)}</section>"
    )


def _sides_table(problems: Sequence[Mapping[str, Any]]) -> str:
    """Differences of a run against a reference deployment: target, reference and stored
    baseline side by side, per path."""
    rows = "".join(
        "<tr>"
        f"<td>{outcome_tag(c.get('outcome'))}</td>"
        f"<td><code>{e(c.get('path') or '(whole value)')}</code></td>"
        + "".join(
            f'<td class="dv-side-{key}"><pre>{e(model.show_value(model.sides_of(c)[key]))}</pre></td>'
            for key, _ in model.SIDES
        )
        + f'<td>{e(c.get("rule"))}<div class="dv-muted">{e(model.first_line(c.get("message")))}'
        f"</div>{replay_html(model.check_replays(c))}</td></tr>"
        for c in problems
    )
    heads = "".join(f"<th>{e(label)}</th>" for _, label in model.SIDES)
    return (
        '<table class="dv-table dv-diff dv-sides"><thead><tr><th>Result</th><th>Path</th>'
        f"{heads}<th>Rule</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _accounting(ctx: ReportContext) -> str:
    acc = ctx.verdict.get("baseline_accounting") or {}
    if not acc:
        return ""
    labels = [
        ("verified", "verified"),
        ("mismatched", "did not match"),
        ("missing", "missing from the baseline"),
        ("not_verified", "stored but not checked by this run"),
        ("unused_files", "baseline files no test used"),
        ("written", "written (record mode)"),
        ("updated", "updated (record mode)"),
        ("unchanged", "unchanged (record mode)"),
    ]
    rows = []
    for key, label in labels:
        items = acc.get(key)
        if not isinstance(items, list):
            continue
        listing = ""
        if items and key != "verified":
            shown = "".join(f"<li><code>{e(i)}</code></li>" for i in items[:50])
            more = f"<li>\u2026 and {len(items) - 50} more</li>" if len(items) > 50 else ""
            listing = f"<ul>{shown}{more}</ul>"
        rows.append(f"<tr><th>{e(label)}</th><td>{len(items)}</td><td>{listing}</td></tr>")
    return (
        '<h3 id="dv-accounting">Baseline accounting</h3><table class="dv-table dv-accounting">'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


# ---------------------------------------------------------------- performance


def render_performance(ctx: ReportContext) -> str:
    """The timing comparison table and one SVG chart per timing group."""
    groups = model.timing_groups(ctx.verdict)
    if not groups:
        body = '<p class="dv-muted">No timings were recorded in this run.</p>'
    else:
        rows = "".join(
            f'<tr class="dv-timing dv-timing-{e(t.get("outcome"))}" data-timing="{e(t.get("name"))}">'
            f"<td>{e(t.get('name'))}</td><td>{e(t.get('group'))}</td>"
            f"<td>{e(model.fmt_seconds((t.get('baseline') or {}).get('median')))}"
            f" <span class=dv-muted>n={e((t.get('baseline') or {}).get('n', '-'))}"
            f" ({e(t.get('reference') or 'baseline')})</span></td>"
            f"<td>{e(model.fmt_seconds((t.get('target') or {}).get('median')))}"
            f" <span class=dv-muted>n={e((t.get('target') or {}).get('n', '-'))}</span></td>"
            f"<td>{e(model.fmt_ratio(t))}</td><td>{e(_allowed(t))}</td>"
            f"<td>{outcome_tag(t.get('outcome'))}</td>"
            f"<td>{e(t.get('reason') or t.get('rule') or '')}</td></tr>"
            for _, timings in groups
            for t in timings
        )
        charts = "".join(
            f'<figure class="dv-figure" id="dv-chart-{e(slug(group))}">{svg.timing_chart(group, timings)}'
            f"<figcaption>{e(_group_caption(group))}</figcaption></figure>"
            for group, timings in groups
        )
        # the picture first: a reader sees the shift before reading the numbers
        body = charts + (
            '<table class="dv-table dv-perf"><thead><tr><th>Timing</th><th>Group</th>'
            "<th>Reference median</th><th>Target median</th><th>Ratio (interval)</th>"
            "<th>Allowed</th><th>Outcome</th><th>Why</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    return (
        '<section id="performance" class="dv-section"><h2>Performance</h2>'
        '<p class="dv-help">Is this deployment slower than the baseline? The ratio is target '
        "time / baseline time (1.00x = same speed) with its confidence interval; too few "
        "samples give &ldquo;inconclusive&rdquo;, not a false alarm.</p>"
        f"{body}{_observed_timings(ctx.verdict)}</section>"
    )


def _observed_timings(verdict: Mapping[str, Any]) -> str:
    """Intermediate statuses' client-observed first sightings: shown, never judged."""
    observed = verdict.get("observed_timings") or []
    if not observed:
        return ""
    rows = "".join(
        f'<tr class="dv-observed" data-timing="{e(t.get("name"))}"><td>{e(t.get("name"))}</td>'
        f"<td>{e(model.fmt_seconds(t.get('median')))} <span class=dv-muted>n={e(t.get('n'))}"
        f"</span></td></tr>"
        for t in observed
    )
    rule = observed[0].get("rule") or ""
    return (
        '<h3 id="dv-observed">Observed, not judged</h3>'
        f'<p class="dv-help">{e(rule)}</p>'
        '<table class="dv-table dv-observed-timings"><thead><tr><th>Timing</th>'
        f"<th>Median (seconds after the upload)</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _allowed(timing: Mapping[str, Any]) -> str:
    allowed = timing.get("allowed_ratio")
    return f"\u2264 {allowed:.2f}x" if isinstance(allowed, (int, float)) else "-"


def _group_caption(group: str) -> str:
    return {
        "own": "The service's own work: baseline vs this deployment.",
        "external": "Time spent waiting on the external services named in external_stages: "
        "baseline vs this deployment.",
    }.get(group, f"Timing group {group}: baseline vs this deployment.")


# ---------------------------------------------------------------- cleanup and sign-off


def render_cleanup(ctx: ReportContext) -> str:
    """Synthetic documents this run created and whether each was removed; alerts; rollback."""
    rows = "".join(
        f'<tr class="{"" if c.get("ok") else "dv-bad"}"><td><code>{e(c.get("document_id"))}</code></td>'
        f"<td>{e(model.cleanup_removed(c))}</td><td>{e(c.get('status'))}</td>"
        f"<td>{e(c.get('error') or '')}</td><td><code>{e(c.get('nodeid'))}</code></td></tr>"
        for c in ctx.verdict.get("cleanup") or []
    )
    table = (
        '<table class="dv-table"><thead><tr><th>Document</th><th>Removed</th><th>Status</th>'
        f"<th>Why</th><th>Test</th></tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else '<p class="dv-muted">This run left no synthetic documents to clean up.</p>'
    )
    extra = []
    for alert in ctx.verdict.get("alerts") or []:
        extra.append(
            f"<li>Alert ({e(alert.get('kind'))}): {'sent' if alert.get('ok') else 'NOT sent'}"
            f" {e(alert.get('status') or '')} {e(alert.get('error') or '')}</li>"
        )
    rollback = ctx.verdict.get("rollback")
    if isinstance(rollback, Mapping):
        recheck = rollback.get("recheck") or {}
        extra.append(
            f"<li>Rollback command <code>{e(rollback.get('command'))}</code> exited "
            f"{e(rollback.get('exit_code'))} after {e(rollback.get('duration_s'))} s; re-check: "
            f"{e(recheck.get('verdict', '-'))}; restored: {e(rollback.get('restored'))}</li>"
        )
    more = f"<ul>{''.join(extra)}</ul>" if extra else ""
    return f'<section id="dv-cleanup" class="dv-section"><h2>Clean-up, alerts, rollback</h2>{table}{more}</section>'


def render_signoff(ctx: ReportContext) -> str:
    """Totals, the verdict file's checksum and fields to fill in by hand or on screen."""
    counts = ctx.verdict.get("counts") or {}
    labels = [
        ("tests", "Tests"),
        ("passed", "passed"),
        ("failed", "failed"),
        ("errors", "errors"),
        ("skipped", "skipped"),
        ("checks", "Checks"),
        ("checks_failed", "checks failed"),
        ("checks_inconclusive", "checks inconclusive"),
    ]
    totals = "".join(
        f"<tr><th>{e(label)}</th><td>{e(counts.get(k, '-'))}</td></tr>" for k, label in labels
    )
    verdict = ctx.verdict.get("verdict", "-")
    rec = ctx.verdict.get("recommendation", "-")
    fields = "".join(
        f'<div class="dv-field"><label>{e(name)}</label><span class="dv-line"></span></div>'
        for name in ("Approver", "Role", "Date", "Signature")
    )
    decisions = "".join(
        f'<span class="dv-box">\u2610 {e(word)}</span>' for word in ("Promote", "Hold", "Roll back")
    )
    return (
        '<section id="dv-signoff" class="dv-section dv-signoff"><h2>Sign-off</h2>'
        f"<p>Verdict <b>{e(str(verdict).upper())}</b>, recommendation <b>{e(rec)}</b>.</p>"
        f'<table class="dv-table dv-totals"><tbody>{totals}</tbody></table>'
        f'<p class="dv-checksum">Verdict file: <code>{e(ctx.verdict_file or "-")}</code><br>'
        f'SHA-256: <code class="dv-sha">{e(ctx.verdict_sha256 or "not available")}</code></p>'
        f'<div class="dv-fields">{fields}'
        f'<div class="dv-field"><label>Decision</label>{decisions}</div></div>'
        f'<p class="dv-muted">Report generated {e(ctx.generated_at)}.</p></section>'
    )

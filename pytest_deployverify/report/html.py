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
from datetime import datetime
from html import escape
from typing import Any

from pytest_deployverify.report import fields, model, svg
from pytest_deployverify.report.context import ReportContext, scrub_known

REPORT_ID = "dv-report"
BANNER_ID = "dv-banner"


def e(value: Any) -> str:
    """HTML-escape anything (None -> empty)."""
    return escape("" if value is None else str(value))


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower()[:80]


def test_anchor(nodeid: str) -> str:
    """The id of a test's details block (the results table links to it)."""
    return "dv-test-" + _slug(nodeid)


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
                f'<div class="dv-evidence">{_outcome_tag(c.get("outcome"))} '
                f"<b>{e(c.get('name'))}</b>: {e(model.first_line(c.get('message')))}"
                f"{_observed_inline(c.get('observed'))}"
                f"{_cid_inline(ctx, c.get('correlation_ids'))}"
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
                f"<td>{_outcome_tag(c.get('outcome'))}</td>"
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
            f"<h3>{_outcome_tag(outcome)} {e(name)}"
            f"{' <span class=dv-critical>critical</span>' if critical else ''}</h3>"
            f'<div class="dv-muted">{e(nodeid)} \u00b7 {len(checks)} check(s)'
            f"{_cid_inline(ctx, cids)}</div>{detail}</div>"
        )
        if outcome == "pass":
            passed.setdefault(str(checks[0].get("kind") or "check"), []).append(block)
            passed_checks.extend(checks)
        else:
            blocks.append(block)
    for kind, count in model.count_by_kind(passed_checks):
        blocks.append(
            f'<details class="dv-passed" data-kind="{e(kind)}"><summary>{_outcome_tag("pass")} '
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
        f"<td>{_outcome_tag(c.get('outcome'))}</td>"
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
            f"<td>{_outcome_tag(t.get('outcome'))}</td>"
            f"<td>{e(t.get('reason') or t.get('rule') or '')}</td></tr>"
            for _, timings in groups
            for t in timings
        )
        charts = "".join(
            f'<figure class="dv-figure" id="dv-chart-{e(_slug(group))}">{svg.timing_chart(group, timings)}'
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
        f"{body}</section>"
    )


def _allowed(timing: Mapping[str, Any]) -> str:
    allowed = timing.get("allowed_ratio")
    return f"\u2264 {allowed:.2f}x" if isinstance(allowed, (int, float)) else "-"


def _group_caption(group: str) -> str:
    return {
        "own": "The service's own work (API, worker, database): baseline vs this deployment.",
        "external": "Calls to external services (parser, embeddings): baseline vs this deployment.",
    }.get(group, f"Timing group {group}: baseline vs this deployment.")


# ---------------------------------------------------------------- per test


def render_tests(ctx: ReportContext) -> str:
    """Per test: outcome, correlation links, failure, request log, pipeline timeline."""
    tests = list(ctx.verdict.get("tests") or [])
    known = {t.get("nodeid") for t in tests}
    # evidence of a test the verdict does not list (should not happen) is still shown
    tests += [
        {"nodeid": n, "outcome": ev.get("outcome"), "correlation_ids": ev.get("correlation_ids")}
        for n, ev in ctx.evidence.items()
        if n not in known
    ]
    target_name = (ctx.verdict.get("target") or {}).get("name")
    blocks = [_test_block(ctx, t, target_name) for t in tests]
    if not blocks:
        blocks.append('<p class="dv-muted">No tests ran.</p>')
    return (
        '<section id="dv-tests" class="dv-section"><h2>Per-test details</h2>'
        '<p class="dv-help">Each test with its correlation IDs (follow a link to the logs or '
        "trace of exactly this test's requests), the requests it made and each document's "
        "path through the pipeline.</p>"
        f"{''.join(blocks)}</section>"
    )


def _test_block(ctx: ReportContext, test: Mapping[str, Any], target_name: Any) -> str:
    nodeid = str(test.get("nodeid") or "?")
    ev = ctx.test_evidence(nodeid)
    outcome = str(test.get("outcome") or ev.get("outcome") or "unknown")
    cids = list(
        dict.fromkeys(
            list(test.get("correlation_ids") or []) + list(ev.get("correlation_ids") or [])
        )
    )
    markers = test.get("markers") or ev.get("markers") or []
    parts = [
        f'<div class="dv-test dv-outcome-{e(outcome)}" id="{test_anchor(nodeid)}" '
        f'data-nodeid="{e(nodeid)}" data-outcome="{e(outcome)}">',
        f"<h3>{_outcome_tag(outcome)} <code>{e(nodeid)}</code>"
        f"{' <span class=dv-critical>critical</span>' if test.get('critical') else ''}</h3>",
        f'<div class="dv-muted">markers: {e(", ".join(markers) or "-")} \u00b7 '
        f"duration {e(model.fmt_seconds(test.get('duration', ev.get('duration'))))}</div>",
        f'<div class="dv-cids"><b>Correlation IDs:</b> {correlation_html(ctx, cids) or "<i>none</i>"}</div>',
    ]
    if test.get("skip_reason") or ev.get("skip_reason"):
        parts.append(
            f'<div class="dv-muted">Skipped: {e(test.get("skip_reason") or ev.get("skip_reason"))}</div>'
        )
    message = test.get("message") or ev.get("message")
    if message and outcome in ("failed", "error"):
        parts.append(f'<pre class="dv-message">{e(str(message)[-3000:])}</pre>')
        rerun = f"pytest '{ctx.user_nodeid(nodeid)}'" + (
            f" --target-env={target_name}" if target_name else ""
        )
        parts.append(f'<div class="dv-replay">Re-run just this test: <code>{e(rerun)}</code></div>')
    parts.append(replay_html(model.test_replays(test)))
    parts.append(_request_log(ev.get("exchanges") or []))
    for run in ev.get("runs") or []:
        parts.append(_timeline(run))
    parts.append("</div>")
    return "".join(parts)


def replay_html(replays: Sequence[tuple[str, str]]) -> str:
    """Replay commands, each in a block a person can copy (see docs/report.md)."""
    return "".join(
        f'<div class="dv-replay-request">Replay {e(label)}:'
        f'<pre class="dv-replay-command"><code>{e(command)}</code></pre></div>'
        for label, command in replays
    )


def correlation_html(ctx: ReportContext, cids: Sequence[str]) -> str:
    """Correlation IDs, each followed by its links (from the URL templates)."""
    out = []
    for cid in cids:
        links = " ".join(
            f'<a class="dv-cid-link" href="{e(url)}" target="_blank" rel="noopener">{e(label)}</a>'
            for label, url in ctx.links.links(cid)
        )
        out.append(
            f'<span class="dv-cid"><code>{e(cid)}</code>{" " + links if links else ""}</span>'
        )
    return " ".join(out)


def _cid_inline(ctx: ReportContext, cids: Any) -> str:
    cids = [c for c in cids or [] if c]
    return f' <span class="dv-cids-inline">{correlation_html(ctx, cids)}</span>' if cids else ""


def _request_log(exchanges: Sequence[Mapping[str, Any]]) -> str:
    if not exchanges:
        return '<div class="dv-muted">No requests recorded.</div>'
    rows = "".join(
        f'<tr class="{"dv-bad" if _bad_status(x) else ""}">'
        f"<td>{e(x.get('started_at'))}</td><td>{e(x.get('method'))}</td>"
        f"<td><code>{e(x.get('path'))}</code></td>"
        f"<td>{e(x.get('status') if x.get('status') is not None else x.get('error') or '-')}</td>"
        f"<td>{e(_ms(x.get('latency_ms')))}</td><td>{e(x.get('attempt', 1))}</td>"
        f"<td><code>{e(x.get('correlation_id'))}</code></td></tr>"
        for x in exchanges[:200]
    )
    more = (
        f"<p class=dv-muted>\u2026 {len(exchanges) - 200} more requests not shown</p>"
        if len(exchanges) > 200
        else ""
    )
    return (
        '<table class="dv-table dv-requests"><caption>Request log</caption><thead><tr>'
        "<th>At</th><th>Method</th><th>Path</th><th>Status</th><th>Latency</th><th>Try</th>"
        f"<th>Correlation ID</th></tr></thead><tbody>{rows}</tbody></table>{more}"
    )


def _bad_status(exchange: Mapping[str, Any]) -> bool:
    status = exchange.get("status")
    return exchange.get("error") is not None or (isinstance(status, int) and status >= 400)


def _ms(value: Any) -> str:
    return f"{value:.0f} ms" if isinstance(value, (int, float)) else "-"


def run_timeline(run: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(status, timestamp) pairs of one pipeline run, whichever shape the run summary uses."""
    for key in ("status_timeline", "statuses", "status_sequence", "events", "timeline", "history"):
        seq = run.get(key)
        if isinstance(seq, list) and seq:
            out = []
            for item in seq:
                if isinstance(item, Mapping):
                    out.append(
                        (
                            str(item.get("status", "?")),
                            str(item.get("at") or item.get("observed_at") or ""),
                        )
                    )
                elif isinstance(item, (list, tuple)) and item:
                    out.append((str(item[0]), str(item[1]) if len(item) > 1 else ""))
                else:
                    out.append((str(item), ""))
            return out
    return []


def _parse_ts(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def _timeline(run: Mapping[str, Any]) -> str:
    steps = run_timeline(run)
    ids = " \u00b7 ".join(
        f"{label} <code>{e(run.get(key))}</code>"
        for key, label in (
            ("document_id", "document"),
            ("job_id", "job"),
            ("correlation_id", "correlation"),
        )
        if run.get(key)
    )
    final = run.get("final_status") or run.get("status") or (steps[-1][0] if steps else "")
    head = (
        f'<div class="dv-run-head">Pipeline run {ids} \u2192 final status <b>{e(final)}</b></div>'
    )
    if not steps:
        return f'<div class="dv-run">{head}<div class="dv-muted">No status timeline recorded.</div></div>'
    t0 = _parse_ts(steps[0][1])
    items = []
    for status, at in steps:
        ts = _parse_ts(at)
        offset = f"+{(ts - t0).total_seconds():.3f} s" if ts and t0 else ""
        failed = status.startswith("failed")
        items.append(
            f'<li class="{"dv-bad" if failed else ""}"><span class="dv-status">{e(status)}</span>'
            f'<span class="dv-at">{e(offset or at)}</span></li>'
        )
    return f'<div class="dv-run">{head}<ol class="dv-timeline">{"".join(items)}</ol></div>'


# ---------------------------------------------------------------- cleanup and sign-off


def render_cleanup(ctx: ReportContext) -> str:
    """Synthetic documents this run created and whether each was removed; alerts; rollback."""
    rows = "".join(
        f'<tr class="{"" if c.get("ok") else "dv-bad"}"><td><code>{e(c.get("document_id"))}</code></td>'
        f"<td>{'removed' if c.get('ok') else 'NOT removed'}</td><td>{e(c.get('status'))}</td>"
        f"<td>{e(c.get('error') or '')}</td><td><code>{e(c.get('nodeid'))}</code></td></tr>"
        for c in ctx.verdict.get("cleanup") or []
    )
    table = (
        '<table class="dv-table"><thead><tr><th>Document</th><th>Clean-up</th><th>Status</th>'
        f"<th>Error</th><th>Test</th></tr></thead><tbody>{rows}</tbody></table>"
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


def _outcome_tag(outcome: Any) -> str:
    outcome = str(outcome or "unknown")
    return f'<span class="dv-tag dv-tag-{e(outcome)}">{e(model.OUTCOME_LABELS.get(outcome, outcome))}</span>'


# ---------------------------------------------------------------- results-table additions


def correlation_cell(ctx_links: model.CorrelationLinks, nodeid: str, cids: Sequence[str]) -> str:
    """A results-table cell: the test's correlation IDs with links, and a details link."""
    items = []
    for cid in cids:
        links = " ".join(
            f'<a href="{e(url)}" target="_blank" rel="noopener">{e(label)}</a>'
            for label, url in ctx_links.links(cid)
        )
        items.append(f"<code>{e(cid)}</code>{' ' + links if links else ''}")
    details = f'<a href="#{test_anchor(nodeid)}">details</a>'
    return f'<td class="col-dv-cids">{"<br>".join(items) or "-"} {details}</td>'


def request_log_text(exchanges: Sequence[Mapping[str, Any]]) -> str:
    """The request log as escaped text lines, for pytest-html's per-test log panel."""
    lines = [
        f"{x.get('method', '?')} {x.get('path', '?')} -> "
        f"{x.get('status') if x.get('status') is not None else x.get('error') or '-'} "
        f"{_ms(x.get('latency_ms'))} [{x.get('correlation_id', '')}]"
        for x in exchanges
    ]
    return e(f"{' deployverify request log ':-^80}\n" + "\n".join(lines) + "\n")


# Moves the block from inside pytest-html's summary to right under the page title, so the
# banner is the first thing a reader sees. Ids only; pytest-html's script finds its parts by id.
# ``report.html?dv-focus=performance`` shows only the banner and that section: a stable view
# for screenshots and for sharing one section (headless screenshots ignore #fragments).
MOVE_SCRIPT = (
    "(function(){var r=document.getElementById('dv-report');"
    "var t=document.getElementById('title');"
    "if(r&&t&&t.parentNode){t.parentNode.insertBefore(r,t.nextSibling);}"
    "var m=/[?&]dv-focus=([A-Za-z0-9_-]+)/.exec(window.location.search);"
    "var f=m&&document.getElementById(m[1]);"
    "if(f){f.classList.add('dv-focused');document.documentElement.classList.add('dv-focus');}"
    "})();"
)

CSS = """
.dv{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#111;max-width:1200px;margin:0 0 24px 0}
.dv h2{border-bottom:2px solid #333;padding-bottom:4px;margin-top:28px}
.dv h3{margin:14px 0 4px 0;font-size:15px}
.dv-banner{border:6px solid #444;border-radius:6px;padding:14px 18px;margin:12px 0;background:#f4f4f4}
.dv-verdict-pass{border-color:#1a7f37;background:#e9f7ee}
.dv-verdict-fail{border-color:#b3261e;background:#fdecea;border-style:double;border-width:9px}
.dv-verdict-inconclusive{border-color:#9a6700;background:#fff6dc;border-style:dashed}
.dv-banner-head{display:flex;align-items:baseline;gap:24px;flex-wrap:wrap}
.dv-verdict-word{font-size:40px;font-weight:800;letter-spacing:2px}
.dv-recommendation{font-size:22px;font-weight:600}
.dv-reason{font-size:17px;margin:6px 0 10px 0}
.dv-identity{display:flex;gap:32px;flex-wrap:wrap}
.dv-id-block h3{margin:4px 0}
.dv-id-block dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:0}
.dv-id-block dt{font-weight:600}
.dv-id-block dd{margin:0;word-break:break-all}
.dv-when{font-size:12px;color:#444;margin:8px 0 0 0}
.dv-nav ul{list-style:none;padding:0;display:flex;gap:14px;flex-wrap:wrap}
.dv-help{color:#333;font-style:italic;max-width:900px}
.dv-muted{color:#555;font-size:12px}
.dv-table{border-collapse:collapse;margin:6px 0 10px 0;width:100%}
.dv-table th,.dv-table td{border:1px solid #999;padding:4px 6px;text-align:left;vertical-align:top;font-size:13px}
.dv-table thead th{background:#e8e8e8}
.dv-table caption{text-align:left;font-weight:600;padding:4px 0}
.dv-table pre{margin:0;white-space:pre-wrap;word-break:break-all;max-height:320px;overflow:auto;font-size:12px}
.dv-diff td.dv-expected{background:#f0f6ff}
.dv-diff td.dv-observed-cell{background:#fff3f0}
.dv-state-fail .dv-state,.dv-state-error .dv-state{font-weight:800}
.dv-state-none .dv-state{font-style:italic}
.dv-tag{display:inline-block;padding:0 6px;border:1px solid #333;border-radius:3px;font-size:12px;font-weight:600}
.dv-tag-pass,.dv-tag-passed{background:#dff3e4}
.dv-tag-fail,.dv-tag-failed,.dv-tag-error{background:#b3261e;color:#fff;border-color:#b3261e}
.dv-tag-inconclusive{background:#fff0c2;border-style:dashed}
.dv-tag-skipped{background:#eee;border-style:dotted}
.dv-critical{font-size:11px;border:1px solid #000;padding:0 4px;text-transform:uppercase}
.dv-check,.dv-test{border-left:4px solid #bbb;padding:2px 10px;margin:10px 0}
.dv-outcome-fail,.dv-outcome-failed,.dv-outcome-error{border-left:6px double #b3261e}
.dv-outcome-inconclusive{border-left-style:dashed;border-left-color:#9a6700}
.dv-message{background:#fff3f0;border:1px solid #e0b4b0;padding:6px;white-space:pre-wrap;font-size:12px;max-height:300px;overflow:auto}
.dv-cid code{background:#eef;padding:0 3px}
.dv-replay-command{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:4px}
.dv-cid-link{margin-left:4px;font-size:12px}
tr.dv-bad td{background:#fdecea;font-weight:600}
.dv-timeline{display:flex;flex-wrap:wrap;list-style:none;padding:0;margin:4px 0;gap:0}
.dv-timeline li{border:1px solid #777;padding:2px 8px;margin:0 14px 4px 0;position:relative;background:#fafafa;font-size:12px}
.dv-timeline li:after{content:"\\2192";position:absolute;right:-13px;top:2px}
.dv-timeline li:last-child:after{content:""}
.dv-timeline li.dv-bad{border-width:2px;border-color:#b3261e}
.dv-status{font-weight:600;margin-right:6px}
.dv-at{color:#444}
.dv-figure{margin:10px 0}
.dv-figure svg{max-width:100%;height:auto;border:1px solid #ccc}
.dv-figure figcaption{font-size:12px;color:#333}
.dv-signoff{border:2px solid #333;padding:8px 16px;page-break-inside:avoid;break-inside:avoid}
.dv-totals{width:auto}
.dv-sha{word-break:break-all}
.dv-fields{display:grid;grid-template-columns:1fr 1fr;gap:18px 32px;margin:16px 0}
.dv-field label{font-weight:600;display:inline-block;min-width:90px}
.dv-line{display:inline-block;border-bottom:1px solid #000;min-width:260px;height:1.4em;vertical-align:bottom}
.dv-box{margin-right:18px;font-size:15px}
.dv-focus body>*:not(#dv-report):not(#title){display:none!important}
.dv-focus #dv-report>*:not(.dv-focused):not(#dv-banner){display:none!important}
@media print{
  .dv-noprint,.summary__reload,.controls,.filters,p.filter,#results-table .logexpander{display:none!important}
  .dv{max-width:none}
  .dv-banner{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  .dv-section{break-inside:auto}
  .dv-check,.dv-test,.dv-figure,tr{break-inside:avoid;page-break-inside:avoid}
  .dv-signoff{break-before:page;page-break-before:always}
  .dv-table pre,.dv-message{max-height:none;overflow:visible}
  a[href^="http"]:after{content:" (" attr(href) ")";font-size:10px;word-break:break-all}
}
"""

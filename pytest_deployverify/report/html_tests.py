"""The per-test details of the sign-off page, and what we add to pytest-html's results table.

Each test's block: outcome, correlation IDs with links, its checks, the request log and the
pipeline timeline of each upload, replay commands. The results table gets a correlation-ID
cell linking to that block and the request log as text in the test's log panel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pytest_deployverify.report import model
from pytest_deployverify.report.context import ReportContext
from pytest_deployverify.report.html_parts import (
    correlation_html,
    e,
    millis,
    outcome_tag,
    replay_html,
    test_anchor,
)

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
        f"<h3>{outcome_tag(outcome)} <code>{e(nodeid)}</code>"
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


def _request_log(exchanges: Sequence[Mapping[str, Any]]) -> str:
    if not exchanges:
        return '<div class="dv-muted">No requests recorded.</div>'
    rows = "".join(
        f'<tr class="{"dv-bad" if _bad_status(x) else ""}">'
        f"<td>{e(x.get('started_at'))}</td><td>{e(x.get('method'))}</td>"
        f"<td><code>{e(x.get('path'))}</code></td>"
        f"<td>{e(x.get('status') if x.get('status') is not None else x.get('error') or '-')}</td>"
        f"<td>{e(millis(x.get('latency_ms')))}</td><td>{e(x.get('attempt', 1))}</td>"
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
    seen = _client_seen(run, len(steps))
    items = []
    ended_badly = run.get("outcome") not in (None, "complete")
    for index, ((status, at), seen_s) in enumerate(zip(steps, seen, strict=True)):
        ts = _parse_ts(at)
        offset = f"+{(ts - t0).total_seconds():.3f} s" if ts and t0 else ""
        if not (offset or at) and seen_s is not None:
            offset = f"seen +{seen_s:.3f} s"
        # any service's names: the status a run that did not complete ended in, or a
        # failure-named one on the way (docservice's failed_parse, another's FAILURE)
        failed = status.lower().startswith("fail") or (ended_badly and index == len(steps) - 1)
        items.append(
            f'<li class="{"dv-bad" if failed else ""}"><span class="dv-status">{e(status)}</span>'
            f'<span class="dv-at">{e(offset or at)}</span></li>'
        )
    note = (
        '<div class="dv-muted">No server timestamps: "seen" is when the client first saw each '
        "status after the upload started (client-observed, polling granularity; a status "
        "shorter than a poll may be missing).</div>"
        if any(s is not None for s in seen) and not any(at for _, at in steps)
        else ""
    )
    return f'<div class="dv-run">{head}<ol class="dv-timeline">{"".join(items)}</ol>{note}</div>'


def _client_seen(run: Mapping[str, Any], count: int) -> list[float | None]:
    """When the client first saw each status of the timeline (``seen_s``), if recorded."""
    statuses = run.get("statuses")
    if not isinstance(statuses, list) or len(statuses) != count:
        return [None] * count
    return [
        float(s["seen_s"])
        if isinstance(s, Mapping) and isinstance(s.get("seen_s"), (int, float))
        else None
        for s in statuses
    ]


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
        f"{millis(x.get('latency_ms'))} [{x.get('correlation_id', '')}]"
        for x in exchanges
    ]
    return e(f"{' deployverify request log ':-^80}\n" + "\n".join(lines) + "\n")

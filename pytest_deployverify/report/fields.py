"""The report's "What this run did not check" section and summary.md's coverage line.

Both read the verdict's ``coverage`` block (and ``mutation`` after ``--mutate-responses``),
which is already redacted; every string is HTML-escaped here.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

SECTION_ID = "dv-unchecked"
TITLE = "What this run did not check"


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def coverage_line(verdict: Mapping[str, Any]) -> str:
    """One markdown line: fields seen, what checked them, how many nothing did."""
    cov = verdict.get("coverage") or {}
    if not cov.get("paths"):
        return "Field coverage: no JSON response fields were received."
    c = cov.get("counts") or {}
    checked = cov["paths"] - c.get("unchecked", 0) - c.get("declared", 0)
    line = (
        f"Field coverage: {checked} of {cov['paths']} response fields on {cov.get('routes')} "
        f"routes checked ({c.get('exact', 0)} exact, {c.get('rule', 0)} under a rule, "
        f"{c.get('schema', 0)} schema, {c.get('read', 0)} read, {c.get('used', 0)} sent back), "
        f"{c.get('declared', 0)} ignored on purpose, **{c.get('unchecked', 0)} unchecked**"
        + (" (--fail-unchecked)" if cov.get("fail_unchecked") else "")
        + "."
    )
    mutation = verdict.get("mutation")
    if isinstance(mutation, Mapping):
        score = mutation.get("score")
        shown = f"{score:.0%}" if isinstance(score, (int, float)) else "n/a"
        line += (
            f" Response mutation: {mutation.get('killed', 0)} of "
            f"{mutation.get('killed', 0) + mutation.get('survived', 0)} mutants killed ({shown})."
        )
    return line


def render_section(verdict: Mapping[str, Any]) -> str:
    """The HTML section: unchecked fields, declared ones with their reasons, survivors."""
    cov = verdict.get("coverage") or {}
    unchecked = cov.get("unchecked") or []
    rows = "".join(
        f"<tr><td><code>{_e(u.get('route'))}</code></td><td><code>{_e(u.get('path'))}</code></td>"
        f"<td><code>{_e(u.get('example'))}</code></td>"
        f'<td class="dv-muted">{_e(", ".join(u.get("tests") or []))}</td></tr>'
        for u in unchecked
    )
    total = int(cov.get("unchecked_total") or 0)
    more = (
        f'<p class="dv-muted">... and {total - len(unchecked)} more (see verdict.json).</p>'
        if total > len(unchecked)
        else ""
    )
    table = (
        '<table class="dv-table"><thead><tr><th>Route</th><th>Field</th><th>Example value</th>'
        f"<th>Received by</th></tr></thead><tbody>{rows}</tbody></table>{more}"
        if rows
        else '<p class="dv-muted">Every response field received was checked or declared.</p>'
    )
    declared = cov.get("declared") or []
    drows = "".join(
        f"<tr><td><code>{_e(d.get('route'))}</code></td><td><code>{_e(d.get('path'))}</code></td>"
        f'<td>{_e(d.get("reason"))}</td><td class="dv-muted">{_e(d.get("declared_by"))}</td></tr>'
        for d in declared
    )
    dtable = (
        "<h3>Ignored on purpose</h3>"
        '<table class="dv-table"><thead><tr><th>Route</th><th>Field</th><th>Reason</th>'
        f"<th>Declared by</th></tr></thead><tbody>{drows}</tbody></table>"
        if drows
        else ""
    )
    return (
        f'<section id="{SECTION_ID}" class="dv-section"><h2>{TITLE}</h2>'
        '<p class="dv-help">Every JSON field the tests received, per route. A field is checked '
        "when a baseline comparison (exact or under a rule), a JSON Schema constraint beyond "
        "its type, test code reading it, or a later request sending it back touched it. The "
        "fields below were received and nothing looked at them: a change there would pass "
        "unnoticed.</p>"
        f"<p>{_e(coverage_line(verdict).replace('**', ''))}</p>"
        f"{table}{dtable}{_mutation(verdict)}</section>"
    )


def _mutation(verdict: Mapping[str, Any]) -> str:
    block = verdict.get("mutation")
    if not isinstance(block, Mapping):
        return ""
    rows = "".join(
        f"<tr><td>{_e(m.get('id'))}</td><td>{_e(m.get('outcome'))}</td>"
        f"<td>{_e(m.get('description'))}</td>"
        f'<td class="dv-muted">{_e(", ".join(m.get("killed_by") or []))}</td></tr>'
        for m in sorted(
            block.get("mutants") or [], key=lambda m: (m.get("outcome") != "survived", m["id"])
        )
    )
    return (
        f"<h3>Response mutants (seed {_e(block.get('seed'))})</h3>"
        '<p class="dv-help">Each mutant reran the tests that received its route with one '
        "field altered as the client received it. Survived: no check noticed.</p>"
        '<table class="dv-table"><thead><tr><th>Mutant</th><th>Outcome</th><th>Change</th>'
        f"<th>Killed by</th></tr></thead><tbody>{rows}</tbody></table>"
    )

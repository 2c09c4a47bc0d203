"""Small HTML building blocks every section of the sign-off page shares: escaping, anchors,
outcome tags, correlation links, replay commands."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from pytest_deployverify.report import model
from pytest_deployverify.report.context import ReportContext


def e(value: Any) -> str:
    """HTML-escape anything (None -> empty)."""
    return escape("" if value is None else str(value))


def slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower()[:80]


def test_anchor(nodeid: str) -> str:
    """The id of a test's details block (the results table links to it)."""
    return "dv-test-" + slug(nodeid)


def outcome_tag(outcome: Any) -> str:
    outcome = str(outcome or "unknown")
    return f'<span class="dv-tag dv-tag-{e(outcome)}">{e(model.OUTCOME_LABELS.get(outcome, outcome))}</span>'


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


def cid_inline(ctx: ReportContext, cids: Any) -> str:
    cids = [c for c in cids or [] if c]
    return f' <span class="dv-cids-inline">{correlation_html(ctx, cids)}</span>' if cids else ""


def millis(value: Any) -> str:
    return f"{value:.0f} ms" if isinstance(value, (int, float)) else "-"

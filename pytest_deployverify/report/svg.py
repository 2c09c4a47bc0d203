"""Timing charts as inline SVG, drawn by hand so the report needs no plotting dependency.

One chart per timing group ("own" work of the service, "external" services it calls). Each
timing gets a row with two strips: the baseline's samples and the target's samples, each with
its interquartile box and a thick median tick. Baseline and target differ by *shape* (open
circles vs filled squares) and fill, not only by colour, so the chart stays readable when
printed in greyscale. Medians are also written out as text beside the label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

WIDTH = 760
LABEL_W = 230
RIGHT_PAD = 24
TOP = 34
ROW_H = 58
AXIS_H = 44

OUTCOME_WORDS = {
    "pass": "OK",
    "fail": "FAIL",
    "inconclusive": "INCONCLUSIVE",
    "error": "ERROR",
}


def nice_ticks(hi: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``hi`` (1-2-5 steps), for a readable axis."""
    if not math.isfinite(hi) or hi <= 0:
        return [0.0, 1.0]
    raw = hi / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    n = math.ceil(hi / step - 1e-9)
    return [round(i * step, 12) for i in range(n + 1)]


def _fmt_seconds(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms" if value >= 0.001 else f"{value * 1000:.2f} ms"
    return f"{value:.2f} s"


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    # Linear interpolation between closest ranks (numpy's default), no numpy needed.
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _samples(block: Any) -> list[float]:
    if not isinstance(block, dict):
        return []
    out = []
    for v in block.get("samples") or []:
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out.append(f)
    return out


def _median(block: Any, samples: list[float]) -> float | None:
    med = block.get("median") if isinstance(block, dict) else None
    if isinstance(med, (int, float)) and math.isfinite(med):
        return float(med)
    return _quantile(sorted(samples), 0.5) if samples else None


def timing_chart(group: str, timings: Sequence[dict[str, Any]]) -> str:
    """An ``<svg>`` strip/box plot of baseline vs target samples for one timing group.

    ``timings`` are entries of the verdict's ``timings`` list (see docs/architecture.md).
    Returns an empty string when there is nothing to draw.
    """
    rows = [t for t in timings if isinstance(t, dict)]
    if not rows:
        return ""
    all_values = [v for t in rows for k in ("baseline", "target") for v in _samples(t.get(k))]
    ticks = nice_ticks(max(all_values, default=1.0) * 1.05)
    x_max = ticks[-1]
    plot_w = WIDTH - LABEL_W - RIGHT_PAD
    height = TOP + ROW_H * len(rows) + AXIS_H

    def x(value: float) -> float:
        return LABEL_W + plot_w * (value / x_max if x_max else 0)

    title = f"Timings ({group}): baseline vs target samples"
    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dv-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'aria-label="{escape(title)}" data-group="{escape(group)}">',
        f"<title>{escape(title)}</title>",
        '<rect x="0" y="0" width="100%" height="100%" fill="#fff"/>',
        # legend: the shapes themselves, so it reads in greyscale
        f'<text x="{LABEL_W}" y="16" font-size="12" font-family="sans-serif" fill="#000">',
        "Legend:</text>",
        f'<circle cx="{LABEL_W + 62}" cy="12" r="4" fill="#fff" stroke="#000" stroke-width="1.3"/>',
        f'<text x="{LABEL_W + 70}" y="16" font-size="12" font-family="sans-serif">baseline sample</text>',
        f'<rect x="{LABEL_W + 178}" y="8" width="8" height="8" fill="#333"/>',
        f'<text x="{LABEL_W + 191}" y="16" font-size="12" font-family="sans-serif">target sample</text>',
        f'<line x1="{LABEL_W + 290}" y1="6" x2="{LABEL_W + 290}" y2="18" stroke="#000" stroke-width="3"/>',
        f'<text x="{LABEL_W + 297}" y="16" font-size="12" font-family="sans-serif">median</text>',
        f'<rect x="{LABEL_W + 348}" y="7" width="16" height="10" fill="#ddd" stroke="#555"/>',
        f'<text x="{LABEL_W + 369}" y="16" font-size="12" font-family="sans-serif">middle half</text>',
    ]
    # vertical grid lines at each tick
    axis_y = TOP + ROW_H * len(rows)
    for tick in ticks:
        tx = x(tick)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{TOP - 4}" x2="{tx:.1f}" y2="{axis_y}" '
            'stroke="#ccc" stroke-width="1" stroke-dasharray="2,3"/>'
        )
    for i, timing in enumerate(rows):
        top = TOP + ROW_H * i
        parts.extend(_timing_row(timing, top, x))
        parts.append(
            f'<line x1="0" y1="{top + ROW_H}" x2="{WIDTH}" y2="{top + ROW_H}" stroke="#eee"/>'
        )
    # x axis with tick labels and its title
    parts.append(
        f'<line x1="{LABEL_W}" y1="{axis_y}" x2="{LABEL_W + plot_w}" y2="{axis_y}" '
        'stroke="#000" stroke-width="1"/>'
    )
    for tick in ticks:
        tx = x(tick)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{axis_y}" x2="{tx:.1f}" y2="{axis_y + 5}" stroke="#000"/>'
        )
        parts.append(
            f'<text x="{tx:.1f}" y="{axis_y + 18}" font-size="11" font-family="sans-serif" '
            f'text-anchor="middle">{escape(_tick_label(tick))}</text>'
        )
    parts.append(
        f'<text x="{LABEL_W + plot_w / 2:.1f}" y="{axis_y + 36}" font-size="12" '
        'font-family="sans-serif" text-anchor="middle">seconds per operation '
        "(further left is faster)</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _tick_label(tick: float) -> str:
    return f"{tick:g}"


def _timing_row(timing: dict[str, Any], top: float, x: Any) -> list[str]:
    name = str(timing.get("name", "?"))
    outcome = str(timing.get("outcome", ""))
    base = _samples(timing.get("baseline"))
    targ = _samples(timing.get("target"))
    base_med = _median(timing.get("baseline"), base)
    targ_med = _median(timing.get("target"), targ)
    label_name = name if len(name) <= 30 else name[:29] + "\u2026"
    weight = "bold" if outcome in ("fail", "error") else "normal"
    out = [
        f'<g class="dv-chart-row" data-timing="{escape(name)}" data-outcome="{escape(outcome)}">',
        f'<text x="6" y="{top + 16}" font-size="12" font-family="sans-serif" '
        f'font-weight="bold">{escape(label_name)}</text>',
        f'<text x="6" y="{top + 31}" font-size="11" font-family="sans-serif">'
        f"base {_fmt_seconds(base_med)} / target {_fmt_seconds(targ_med)}</text>",
        f'<text x="6" y="{top + 46}" font-size="11" font-family="sans-serif" '
        f'font-weight="{weight}">{escape(OUTCOME_WORDS.get(outcome, outcome.upper()))}</text>',
    ]
    out += _strip(base, base_med, top + 17, x, "baseline")
    out += _strip(targ, targ_med, top + 40, x, "target")
    out.append("</g>")
    return out


def _strip(samples: list[float], median: float | None, y: float, x: Any, which: str) -> list[str]:
    if not samples:
        return [
            f'<text x="{x(0) + 4:.1f}" y="{y + 4}" font-size="11" font-family="sans-serif" '
            f'font-style="italic">no {which} samples</text>'
        ]
    ordered = sorted(samples)
    q1, q3 = _quantile(ordered, 0.25), _quantile(ordered, 0.75)
    out = [
        f'<rect class="dv-iqr" x="{x(q1):.1f}" y="{y - 7}" width="{max(x(q3) - x(q1), 1):.1f}" '
        'height="14" fill="#ddd" stroke="#555" stroke-width="0.8"/>'
    ]
    for j, value in enumerate(samples):
        # deterministic jitter so equal samples stay visible without randomness
        dy = ((j % 5) - 2) * 1.6
        cx = x(value)
        if which == "baseline":
            out.append(
                f'<circle class="dv-sample-baseline" cx="{cx:.1f}" cy="{y + dy:.1f}" r="3.6" '
                'fill="#fff" stroke="#000" stroke-width="1.2"/>'
            )
        else:
            out.append(
                f'<rect class="dv-sample-target" x="{cx - 3.2:.1f}" y="{y + dy - 3.2:.1f}" '
                'width="6.4" height="6.4" fill="#333" stroke="#000" stroke-width="0.6"/>'
            )
    if median is not None:
        mx = x(median)
        out.append(
            f'<line class="dv-median" x1="{mx:.1f}" y1="{y - 10}" x2="{mx:.1f}" y2="{y + 10}" '
            'stroke="#000" stroke-width="3"/>'
        )
    return out

"""``--metrics-file``: the verdict as a Prometheus textfile for node-exporter's collector.

Written atomically (temp file in the same directory, then ``os.replace``), as the textfile
collector requires: it must never read half a file.

Metrics (all gauges):

* ``deployverify_verdict{verdict="pass|fail|inconclusive",target=...}`` 1 for the verdict, 0 others
* ``deployverify_recommendation{recommendation=...,target=...}`` 1 / 0 likewise
* ``deployverify_tests{outcome=...,target=...}`` and ``deployverify_checks{outcome=...,target=...}``
* ``deployverify_timing_ratio{timing,group,target}`` target/baseline median ratio, with
  ``deployverify_timing_ratio_ci_low`` / ``_high``, ``deployverify_timing_allowed_ratio`` and
  ``deployverify_timing_outcome``
* ``deployverify_last_run_timestamp_seconds{target}`` when the run finished
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pytest_deployverify.report.context import ReportContext, scrub_known

VERDICTS = ("pass", "fail", "inconclusive")
RECOMMENDATIONS = ("promote", "hold", "roll_back")
TIMING_OUTCOMES = {"pass": 0, "inconclusive": 1, "fail": 2, "error": 3}


def _label_value(value: Any) -> str:
    # Prometheus exposition format: escape backslash, double quote and newline.
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: Any) -> str:
    return "{" + ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items()) + "}"


def _num(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return repr(float(value)) if isinstance(value, float) else str(value)


def render_metrics(ctx: ReportContext) -> str:
    """The textfile's content."""
    v = ctx.verdict
    target = str((v.get("target") or {}).get("name") or "unknown")
    lines: list[str] = []

    def gauge(name: str, help_text: str, samples: list[tuple[dict[str, Any], Any]]) -> None:
        rows = [(labels, _num(val)) for labels, val in samples]
        rows = [(labels, val) for labels, val in rows if val is not None]
        if not rows:
            return
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(f"{name}{_labels(**labels)} {val}" for labels, val in rows)

    verdict = v.get("verdict")
    gauge(
        "deployverify_verdict",
        "1 for the verdict of the last run (pass, fail, inconclusive), 0 for the others.",
        [({"verdict": k, "target": target}, int(verdict == k)) for k in VERDICTS],
    )
    rec = v.get("recommendation")
    gauge(
        "deployverify_recommendation",
        "1 for the recommendation of the last run, 0 for the others.",
        [({"recommendation": k, "target": target}, int(rec == k)) for k in RECOMMENDATIONS],
    )
    counts = v.get("counts") or {}
    gauge(
        "deployverify_tests",
        "Tests of the last run by outcome.",
        [
            ({"outcome": k, "target": target}, counts.get(k))
            for k in ("tests", "passed", "failed", "errors", "skipped")
        ],
    )
    gauge(
        "deployverify_checks",
        "Checks of the last run: all, failed, inconclusive.",
        [
            ({"outcome": label, "target": target}, counts.get(key))
            for key, label in (
                ("checks", "all"),
                ("checks_failed", "failed"),
                ("checks_inconclusive", "inconclusive"),
            )
        ],
    )
    timings = [t for t in v.get("timings") or [] if isinstance(t, dict)]

    def per_timing(getter: Any) -> list[tuple[dict[str, Any], Any]]:
        return [
            ({"timing": t.get("name"), "group": t.get("group"), "target": target}, getter(t))
            for t in timings
        ]

    def ci(t: dict[str, Any], i: int) -> Any:
        bounds = t.get("ratio_ci")
        return bounds[i] if isinstance(bounds, (list, tuple)) and len(bounds) == 2 else None

    gauge(
        "deployverify_timing_ratio",
        "Target/baseline median ratio per timing.",
        per_timing(lambda t: t.get("ratio")),
    )
    gauge(
        "deployverify_timing_ratio_ci_low",
        "Lower bound of the ratio interval.",
        per_timing(lambda t: ci(t, 0)),
    )
    gauge(
        "deployverify_timing_ratio_ci_high",
        "Upper bound of the ratio interval.",
        per_timing(lambda t: ci(t, 1)),
    )
    gauge(
        "deployverify_timing_allowed_ratio",
        "The ratio each timing was allowed (above it the timing may fail).",
        per_timing(lambda t: t.get("allowed_ratio")),
    )
    gauge(
        "deployverify_timing_outcome",
        "Timing outcome: 0 pass, 1 inconclusive, 2 fail, 3 error.",
        per_timing(lambda t: TIMING_OUTCOMES.get(str(t.get("outcome")))),
    )
    finished = _epoch(v.get("finished_at"))
    gauge(
        "deployverify_last_run_timestamp_seconds",
        "When the last verification run finished (Unix time).",
        [({"target": target}, finished)],
    )
    return scrub_known("\n".join(lines) + "\n", ctx.secrets)


def _epoch(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None

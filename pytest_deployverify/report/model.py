"""What the reports show, derived from the verdict dict: shared by HTML, markdown and metrics.

Nothing here judges: every outcome comes from the verdict (``docs/architecture.md``, "Verdict
JSON"). This module only groups and labels, so the HTML page and ``summary.md`` say the same.

Deployment-completeness convention (documented in docs/architecture.md): a check whose
``kind`` is ``"component"`` and whose ``name`` is ``"component:<name>"`` (optionally
``"component:<name>:<detail>"``) is evidence about that component of the deployment. Its
``observed`` is the observed state, ``message`` the evidence in words.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from pytest_deployverify.evidence import Finding

COMPONENT_KIND = "component"
COMPONENT_PREFIX = "component:"
#: check kinds that are not "behaviour" (they have their own sections)
NON_BEHAVIOUR_KINDS = frozenset({COMPONENT_KIND, "timing", "performance"})

#: Worst first: how a group of checks is summarised for display (fail beats error ...).
_SEVERITY = {"fail": 0, "error": 1, "inconclusive": 2, "pass": 3}

OUTCOME_LABELS = {
    "pass": "passed",
    "fail": "FAILED",
    "error": "ERROR (could not be checked)",
    "inconclusive": "inconclusive",
    "passed": "passed",
    "failed": "FAILED",
    "skipped": "skipped",
    "unknown": "unknown",
}

VERDICT_WORDS = {
    "pass": "PASS",
    "fail": "FAIL",
    "inconclusive": "INCONCLUSIVE",
}
RECOMMENDATION_WORDS = {
    "promote": "Promote this deployment",
    "hold": "Hold: do not promote yet",
    "roll_back": "Roll back this deployment",
}


def severity(outcome: str | None) -> int:
    """Sort key: most severe outcome first (fail, error, inconclusive, pass)."""
    return _SEVERITY.get(outcome or "error", 1)


def worst(outcomes: Iterable[str]) -> str | None:
    """The most severe of ``outcomes`` (for display), None when there are none."""
    ordered = sorted(outcomes, key=lambda o: _SEVERITY.get(o, 1))
    return ordered[0] if ordered else None


@dataclass
class ComponentRow:
    key: str
    label: str
    outcome: str | None  # None: nothing covered it -> "not checked"
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def state(self) -> str:
        if self.outcome is None:
            return "not checked"
        return {
            "pass": "working",
            "fail": "NOT WORKING",
            "error": "could not be checked",
            "inconclusive": "unclear",
        }.get(self.outcome, self.outcome)


def component_finding(
    component: str,
    outcome: str,
    *,
    observed: Any = None,
    rule: str = "",
    message: str = "",
    correlation_ids: Sequence[str] = (),
    detail: str = "",
) -> Finding:
    """A :class:`~pytest_deployverify.evidence.Finding` that follows the completeness
    convention: ``kind="component"``, ``check="component:<name>[:<detail>]"``."""
    name = str(component).strip().lower()
    if not name or ":" in name:
        raise ValueError(f"component name {component!r} must be a non-empty word without ':'")
    return Finding(
        check=COMPONENT_PREFIX + name + (f":{detail}" if detail else ""),
        outcome=outcome,
        rule=rule or f"{name} is up and doing its job",
        observed=observed,
        message=message,
        correlation_ids=list(correlation_ids),
        kind=COMPONENT_KIND,
    )


def component_of(check: Mapping[str, Any]) -> str | None:
    """The component a check is evidence about, per the convention above; else None."""
    name = str(check.get("name") or "")
    if check.get("kind") != COMPONENT_KIND and not name.startswith(COMPONENT_PREFIX):
        return None
    if not name.startswith(COMPONENT_PREFIX):
        return None
    return name[len(COMPONENT_PREFIX) :].split(":", 1)[0].strip().lower() or None


def expected_components(verdict: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The parts the environment's configuration expects (``components``), as (name, label)."""
    raw = (verdict.get("target") or {}).get("components") or []
    return [(str(c["name"]), str(c.get("label") or c["name"])) for c in raw if c.get("name")]


def component_rows(verdict: Mapping[str, Any]) -> list[ComponentRow]:
    """One row per expected component (the environment's ``components``, in that order), then
    one per other component the tests reported through ``component_check``."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for check in verdict.get("checks") or []:
        key = component_of(check)
        if key:
            by_key.setdefault(key, []).append(check)
    expected = expected_components(verdict)
    rows = [
        ComponentRow(k, label, worst(c["outcome"] for c in by_key.get(k, [])), by_key.get(k, []))
        for k, label in expected
    ]
    known = {k for k, _ in expected}
    for key in sorted(set(by_key) - known):
        checks = by_key[key]
        rows.append(ComponentRow(key, key, worst(c["outcome"] for c in checks), checks))
    return rows


def cleanup_removed(entry: Mapping[str, Any]) -> str:
    """Whether the run removed a synthetic document, as the reports' clean-up tables say it:
    a document left in place on purpose (the service has no delete route, or the upload was a
    duplicate of a document that existed before) is not called removed."""
    result = str(entry.get("status") or "").split(" ", 1)[0]
    if result in ("deleted", "gone"):
        return "yes"
    if result == "skipped":
        return "no (left in place)"
    return "NO"


def behaviour_checks(verdict: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Checks that are about behaviour (baseline comparisons, assertions), not components."""
    return [
        c
        for c in verdict.get("checks") or []
        if c.get("kind") not in NON_BEHAVIOUR_KINDS and component_of(c) is None
    ]


def group_by_name(checks: Sequence[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Checks grouped by (nodeid, name), first-seen order: one mismatch may list many paths."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for check in checks:
        key = (str(check.get("nodeid") or ""), str(check.get("name") or check.get("id") or "?"))
        groups.setdefault(key, []).append(check)
    return [(name, items) for (_, name), items in groups.items()]


def count_by_kind(checks: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """How many checks of each kind, most first (ties by name): passes are counted, not listed."""
    counts: dict[str, int] = {}
    for check in checks:
        kind = str(check.get("kind") or "check")
        counts[kind] = counts.get(kind, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def timing_groups(verdict: Mapping[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Timings by group ("own" first, then "external", then any other), order kept."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for timing in verdict.get("timings") or []:
        groups.setdefault(str(timing.get("group") or "own"), []).append(timing)
    order = {"own": 0, "external": 1}
    return sorted(groups.items(), key=lambda kv: (order.get(kv[0], 2), kv[0]))


def failures(verdict: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Failed/errored tests and checks, for "what went wrong" lists (with correlation IDs)."""
    out: list[dict[str, Any]] = []
    for test in verdict.get("tests") or []:
        if test.get("outcome") in ("failed", "error"):
            out.append(
                {
                    "what": test.get("nodeid", "?"),
                    "kind": "test",
                    "outcome": test.get("outcome"),
                    "critical": bool(test.get("critical")),
                    "message": failure_line(test.get("message")),
                    "correlation_ids": list(test.get("correlation_ids") or []),
                    "replays": test_replays(test),
                }
            )
    for check in verdict.get("checks") or []:
        if check.get("outcome") in ("fail", "error"):
            where = check.get("path")
            out.append(
                {
                    "what": f"{check.get('name', '?')}" + (f" at {where}" if where else ""),
                    "kind": check.get("kind") or "check",
                    "outcome": check.get("outcome"),
                    "critical": bool(check.get("critical")),
                    "message": first_line(check.get("message")),
                    "correlation_ids": list(check.get("correlation_ids") or []),
                    "replays": check_replays(check),
                }
            )
    for timing in verdict.get("timings") or []:
        if timing.get("outcome") in ("fail", "error"):
            out.append(
                {
                    "what": f"timing {timing.get('name', '?')}",
                    "kind": "timing",
                    "outcome": timing.get("outcome"),
                    "critical": False,
                    "message": first_line(timing.get("reason")),
                    "correlation_ids": [],
                    "replays": [],
                }
            )
    return out


def test_replays(test: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, command) of each replay a test entry of the verdict carries."""
    return [
        (f"{r.get('request')} ({r.get('reason')})", str(r["command"]))
        for r in test.get("replays") or []
        if isinstance(r, Mapping) and r.get("command")
    ]


def check_replays(check: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, command) of a failed check's replay, none when it has none."""
    replay = check.get("replay")
    return [("the request this check is about", str(replay))] if replay else []


def failure_line(text: Any, limit: int = 300) -> str:
    """The line of a pytest failure text that says what failed (the first ``E`` line)."""
    for line in str(text or "").splitlines():
        if line.startswith("E ") and line[1:].strip():
            return first_line(line[1:], limit)
    return first_line(text, limit)


def first_line(text: Any, limit: int = 300) -> str:
    """The first non-empty line of ``text``, shortened: for tables and one-line summaries."""
    if not text:
        return ""
    for line in str(text).splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "\u2026"
    return ""


def show_value(value: Any, limit: int = 2000) -> str:
    """A value as the reports print it: JSON (sorted keys), shortened when huge."""
    if isinstance(value, str):
        text = json.dumps(value)
    else:
        try:
            text = json.dumps(value, indent=2, sort_keys=True, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def fmt_seconds(value: Any) -> str:
    """Seconds as a person reads them: "230 ms" or "1.25 s"; "-" when absent."""
    if not isinstance(value, (int, float)):
        return "-"
    if value < 0.01:
        return f"{value * 1000:.1f} ms"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def fmt_ratio(timing: Mapping[str, Any]) -> str:
    """ "1.43x (1.20-1.71)": the target/baseline ratio with its interval."""
    ratio = timing.get("ratio")
    if not isinstance(ratio, (int, float)):
        return "-"
    text = f"{ratio:.2f}x"
    ci = timing.get("ratio_ci")
    if (
        isinstance(ci, (list, tuple))
        and len(ci) == 2
        and all(isinstance(v, (int, float)) for v in ci)
    ):
        text += f" ({ci[0]:.2f}\u2013{ci[1]:.2f})"
    return text


def version_text(version: Any) -> str:
    """A deployment version block (``/version`` body or a string) as one short line."""
    if not version:
        return "unknown"
    if isinstance(version, str):
        return version
    if isinstance(version, Mapping):
        parts = [str(version.get("version") or "")]
        rev = version.get("git_revision")
        if rev:
            parts.append(f"({str(rev)[:12]})")
        text = " ".join(p for p in parts if p).strip()
        return text or show_value(version, 200)
    return str(version)


@dataclass(frozen=True)
class CorrelationLinks:
    """URL templates that turn a correlation ID into links (log search, trace view, ...).

    ``templates`` maps a link label to a template containing ``{correlation_id}``.
    """

    templates: tuple[tuple[str, str], ...] = ()

    def links(self, correlation_id: str) -> list[tuple[str, str]]:
        """(label, url) pairs for one ID; the ID is URL-quoted into each template."""
        quoted = quote(str(correlation_id), safe="")
        return [
            (label, template.replace("{correlation_id}", quoted))
            for label, template in self.templates
        ]


#: the three sides of a difference when the run compared with a reference deployment
SIDES = (
    ("target", "Target (this deployment)"),
    ("reference", "Reference"),
    ("baseline", "Baseline"),
)


def sides_of(check: Mapping[str, Any]) -> dict[str, Any]:
    """A check's values side by side: its ``sides`` (reference runs), else observed as the
    target's and expected as the baseline's."""
    sides = check.get("sides")
    if isinstance(sides, Mapping):
        return {key: sides.get(key) for key, _ in SIDES}
    return {"target": check.get("observed"), "reference": None, "baseline": check.get("expected")}


def has_sides(checks: Iterable[Mapping[str, Any]]) -> bool:
    """Whether any of ``checks`` was made in a run with a reference deployment."""
    return any(isinstance(c.get("sides"), Mapping) for c in checks)


def reference_line(verdict: Mapping[str, Any]) -> str | None:
    """One sentence on the reference deployment and what was compared with it (None
    without a reference)."""
    ref = verdict.get("reference")
    if not isinstance(ref, Mapping):
        return None
    dep = ref.get("deployment") or {}
    checks = ref.get("checks") or {}
    timings = ref.get("timings") or {}
    return (
        f"Reference deployment: env {dep.get('env')} at {', '.join(dep.get('urls') or [])} "
        f"({dep.get('asked')}); {checks.get('compared', 0)} checks compared live "
        f"({checks.get('passed', 0)} passed, {checks.get('failed', 0)} failed, "
        f"{checks.get('unavailable', 0)} without an answer); {timings.get('judged', 0)} "
        f"timings judged against its samples ({timings.get('failed', 0)} failed, "
        f"{timings.get('inconclusive', 0)} inconclusive)."
    )

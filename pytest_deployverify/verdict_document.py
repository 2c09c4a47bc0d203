"""The verdict document: assembling it from the decision and the session's facts, writing it
atomically, and its JSON Schema (shipped in the package).

The rules that decide it are :mod:`pytest_deployverify.verdict`; the session object calls
:func:`build` once per session and :func:`write` before and after the alerts and rollback.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_deployverify.atomic import write_atomic
from pytest_deployverify.clock import utc_timestamp
from pytest_deployverify.config import Target
from pytest_deployverify.evidence import NO_ITEMS, TestEvidence
from pytest_deployverify.redact import redact_value
from pytest_deployverify.verdict import (
    MESSAGE_LIMIT,
    SCHEMA_VERSION,
    Decision,
    Facts,
    Verdict,
    finite,
    jsonable,
)

if TYPE_CHECKING:
    from pytest_deployverify.baseline.session import BaselineSession
    from pytest_deployverify.judge import TimingResult


def timing_entry(t: TimingResult) -> dict[str, Any]:
    """One timing as the verdict file shows it."""
    entry: dict[str, Any] = finite(
        {
            "name": t.name,
            "group": t.group,
            "service": t.service,
            "outcome": t.outcome,
            "rule": t.rule,
            "reason": t.reason,
            "baseline": {
                "n": t.baseline_n,
                "median": t.baseline_median,
                "samples": t.baseline_samples,
            },
            "target": {"n": t.target_n, "median": t.target_median, "samples": t.target_samples},
            "ratio": t.ratio,
            "ratio_ci": list(t.ratio_ci) if t.ratio_ci else None,
            "median_ratio": t.median_ratio,
            "confidence": t.confidence,
            "allowed_ratio": t.allowed_ratio,
            "p_value": t.p_value,
            "test_method": t.test_method,
            "reference": t.reference,
            "reference_detail": t.reference_detail,
            "level": t.level,
            "family_size": t.family_size,
            "look": t.look,
            "looks": t.looks,
            "planned_samples": t.planned_samples,
        }
    )
    return entry


def checks_and_tests(
    evidence: Mapping[str, TestEvidence], shown: Mapping[str, Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The verdict's ``checks`` and ``tests`` (from ``shown``: each test's evidence already
    redacted, see ``SessionState.shown``) and ``cleanup`` lists (to be redacted)."""
    checks: list[dict[str, Any]] = []
    tests: list[dict[str, Any]] = []
    cleanup: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for nodeid in sorted(evidence):
        ev, data = evidence[nodeid], shown[nodeid]
        critical = "critical" in ev.markers
        cids = data["correlation_ids"]
        tests.append(
            {
                "nodeid": data["nodeid"],
                "outcome": data["outcome"],
                "critical": critical,
                "markers": list(data["markers"]) if data["markers"] else NO_ITEMS,
                "duration": round(ev.duration, 6),
                "correlation_ids": list(cids) if cids else NO_ITEMS,
                "message": (data["message"] or "")[-MESSAGE_LIMIT:],
                "skip_reason": data["skip_reason"] or "",
                "replays": data["replays"],
            }
        )
        for f in data["findings"]:
            base = f"{f['nodeid'] or data['nodeid']}::{f['check']}"
            seen[base] = seen.get(base, 0) + 1
            checks.append(
                {
                    "id": base if seen[base] == 1 else f"{base}#{seen[base]}",
                    "nodeid": f["nodeid"] or data["nodeid"],
                    "name": f["check"],
                    "kind": f["kind"],
                    "outcome": f["outcome"],
                    "critical": critical,
                    "observed": f["observed"],
                    "expected": f["expected"],
                    "rule": f["rule"],
                    "path": f["path"],
                    "message": (f["message"] or "")[-MESSAGE_LIMIT:],
                    "correlation_ids": list(f["correlation_ids"] or cids),
                    "replay": f["replay"],
                    "sides": f["sides"],
                }
            )
        for c in ev.cleanup:
            cleanup.append(
                {
                    "nodeid": nodeid,
                    "document_id": c.document_id,
                    "ok": c.ok,
                    "status": c.status,
                    # why it was not simply deleted (left in place, already gone, failed)
                    "error": None if c.result == "deleted" else c.reason,
                }
            )
    return checks, tests, cleanup


def counts(
    evidence: Mapping[str, TestEvidence], checks: Sequence[Mapping[str, Any]], selected: int
) -> dict[str, int]:
    outcomes = [e.outcome for e in evidence.values()]
    return {
        "tests": len(outcomes),
        "passed": outcomes.count("passed"),
        "failed": outcomes.count("failed"),
        "errors": outcomes.count("error") + outcomes.count("unknown"),
        "skipped": outcomes.count("skipped"),
        "not_run": max(0, selected - len(outcomes)),
        "checks": len(checks),
        "checks_failed": sum(1 for c in checks if c["outcome"] in ("fail", "error")),
        "checks_inconclusive": sum(1 for c in checks if c["outcome"] == "inconclusive"),
    }


def baseline_checksum(directory: str | Path, files: Sequence[str]) -> str:
    """The checksum of the baseline files used (``storage.checksum``), read from disk; an
    unreadable file counts with the digest of no bytes."""
    from pytest_deployverify.baseline.storage import checksum

    root = Path(directory)
    digests = []
    for rel in sorted(files):
        path = Path(rel) if Path(rel).is_absolute() else root / rel
        raw = b""
        with contextlib.suppress(OSError):
            raw = path.read_bytes()
        digests.append((str(rel), hashlib.sha256(raw).digest()))
    return checksum(digests)


def baseline_block(
    baseline: BaselineSession | None,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The verdict's ``baseline`` identity and ``baseline_accounting`` (None without a
    baseline session: the baseline component is not active)."""
    if baseline is None:
        return None, None
    identity = dict(baseline.identity() or {})
    accounting = dict(baseline.accounting() or {})
    files = identity.get("files")
    if identity and not identity.get("checksum") and isinstance(files, list) and files:
        identity["checksum"] = baseline_checksum(identity.get("dir") or ".", files)
    for key in ("dir", "checksum", "files", "recorded_from", "recorded_at", "deployment_version"):
        identity.setdefault(key, [] if key == "files" else None)
    if identity.get("dir") is not None:
        identity["dir"] = str(identity["dir"])
    return identity, accounting


def target_block(target: Target | None, launched: bool) -> dict[str, Any]:
    """The verdict's ``target``: the target as far as it was resolved (None: not at all)."""
    deployment = target.deployment if target is not None else None
    version: Any = target.deployment_version if target is not None else None
    if version is None and isinstance(deployment, Mapping):
        version = deployment.get("version")
    return {
        "name": target.name if target is not None else None,
        "base_url": (target.base_url or None) if target is not None else None,
        "protected": bool(target.protected) if target is not None else False,
        "launched": launched or (target is not None and target.launch is not None),
        "deployment_version": version
        if isinstance(version, (Mapping, type(None)))
        else {"version": version},
        "components": [
            {"name": name, "label": label}
            for name, label in (target.components if target is not None else ())
        ],
    }


# ------------------------------------------------------------------------ writing


def write(verdict: Verdict, path: Path) -> Path:
    """Write the verdict JSON atomically; a gate never reads a half-written file."""
    verdict.path = write_atomic(path, document_text(verdict.data))
    return path


#: ``json.dumps(entry, allow_nan=False)`` without an encoder per entry
_ENTRY = json.JSONEncoder(allow_nan=False)


def _entry_encoder() -> Callable[[Any], str]:
    """``_ENTRY.encode`` for many entries: one C encoder made for all of them (``encode``
    makes one per call, a third of the cost of a small entry)."""
    make = getattr(json.encoder, "c_make_encoder", None)  # not in typeshed
    if make is None:  # an interpreter without the C accelerator
        return _ENTRY.encode
    encoder = make(
        {},  # the objects being encoded, to refuse a cycle (empty again after each entry)
        _ENTRY.default,
        json.encoder.encode_basestring_ascii,
        None,
        _ENTRY.key_separator,
        _ENTRY.item_separator,
        False,  # sort_keys
        False,  # skipkeys
        False,  # allow_nan
    )
    return lambda value: "".join(encoder(value, 0))  # 0: the indent level (no indent)


def document_text(data: Mapping[str, Any]) -> str:
    """The verdict file's text: indented two spaces, except that each entry of a list (a
    test, a check, a cleanup) is one line.

    ``json.dumps`` with ``indent`` runs the pure-Python encoder (about 4x the C encoder's
    time per test); one line per entry lets the C encoder write the long lists, and stays
    readable and diffable for thousands of tests.
    """
    parts = []
    entry = _entry_encoder()
    for key, value in data.items():
        name = json.dumps(key)
        if isinstance(value, list) and value:
            entries = ",\n".join("    " + entry(v) for v in value)
            parts.append(f"  {name}: [\n{entries}\n  ]")
        else:
            nested = json.dumps(value, indent=2, allow_nan=False).replace("\n", "\n  ")
            parts.append(f"  {name}: {nested}")
    return "{\n" + ",\n".join(parts) + "\n}\n" if parts else "{}\n"


def schema() -> dict[str, Any]:
    """The verdict file's JSON Schema, shipped as package data."""
    from importlib import resources

    text = (
        resources.files("pytest_deployverify")
        .joinpath("schemas/verdict.schema.json")
        .read_text("utf-8")
    )
    data: dict[str, Any] = json.loads(text)
    return data


# ------------------------------------------------------------------------ assembling


@dataclass(frozen=True)
class Session:
    """What the document says about the session besides the decision (gathered by the
    session object)."""

    started_at: str
    #: the run's id, as events.jsonl, the reports, alerts and the terminal show it
    run_id: str
    target: dict[str, Any]
    baseline: BaselineSession | None
    reports: Mapping[str, str | None]
    secrets: Sequence[str] = ()
    #: blocks other components add (field coverage's ``coverage``, ``mutation``)
    extra: Mapping[str, Any] = field(default_factory=dict)


#: the document's parts made from the session's redacted evidence (``build``'s ``shown``)
_SHOWN_PARTS = ("checks", "tests")


def build(
    decision: Decision,
    facts: Facts,
    session: Session,
    shown: Mapping[str, Mapping[str, Any]] | None = None,
) -> Verdict:
    """Assemble the verdict document (redacted) for ``decision``, once per session.

    ``shown``: nodeid -> that test's evidence already redacted with ``session.secrets`` (the
    session's, shared with the reports; made here when not given). Everything else in the
    document is redacted here."""
    secrets = list(session.secrets)
    if shown is None:
        shown = {n: ev.redacted(secrets) for n, ev in facts.evidence.items()}
    checks, tests, cleanup = checks_and_tests(facts.evidence, shown)
    identity, accounting = baseline_block(session.baseline)
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": session.run_id,
        "verdict": decision.verdict,
        "recommendation": decision.recommendation,
        "reason": decision.reason,
        "reasons": decision.reasons,
        "started_at": session.started_at,
        "finished_at": utc_timestamp(),
        "target": session.target,
        "baseline": identity,
        "counts": counts(facts.evidence, checks, facts.selected),
        "checks": checks,
        "tests": tests,
        "timings": [timing_entry(t) for t in facts.timings],
        "baseline_accounting": accounting,
        "cleanup": cleanup,
        "alerts": [],
        "rollback": None,
        "reports": dict(session.reports),
    }
    if facts.setup_error:
        data["setup_error"] = facts.setup_error
    data.update(session.extra)
    rest = redact_value({k: v for k, v in data.items() if k not in _SHOWN_PARTS}, secrets)
    # one entry per test, made of strings, numbers and lists of them: already what the file
    # holds, so not round-tripped through json like the rest (checks carry observed values)
    converted = jsonable({k: data[k] if k == "checks" else rest[k] for k in data if k != "tests"})
    data = {k: tests if k == "tests" else converted[k] for k in data}
    return Verdict(decision.verdict, decision.recommendation, data["reason"], data)

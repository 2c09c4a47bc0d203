"""Judging a session's timings: every recorded sample against its reference.

The reference is the baseline's samples, the timing history's (``--timing-history``) or a live
reference deployment's samples of the same uploads; :func:`judge_session_timings` judges the
run's timings as one family (:func:`~pytest_deployverify.judge.judge_family`), and
:func:`record_history` appends this run to the history. The recorder that collects samples
during a test is :mod:`perf`'s :class:`~pytest_deployverify.perf.Timings`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.perf import (
    CLIENT_OBSERVED_NOTE,
    OBSERVED,
    ReferenceLookup,
    client_observed,
)
from pytest_deployverify.perf_config import PerfConfig

if TYPE_CHECKING:  # the judge and its statistics: loaded when there are timings to judge
    from pytest_deployverify.judge import TimingResult
    from pytest_deployverify.sequential import SamplingPlan

_DERIVED = (".own", ".total")


def _derived_own(name: str, baseline: Mapping[str, list[float]], perf: PerfConfig) -> list[float]:
    """Baseline samples for ``<prefix>.own`` when the baseline predates it: the per-run sum of
    the prefix's own stages, if every own stage has one sample per run. Empty otherwise."""
    if not name.endswith(".own"):
        return []
    prefix = name[: -len(".own")]
    stages = [
        values
        for key, values in baseline.items()
        if key.startswith(prefix + ".")
        and "." not in key[len(prefix) + 1 :]
        and not key.endswith(_DERIVED)
        and perf.group_for(key) == "own"
    ]
    has_external = any(
        key.startswith(prefix + ".") and perf.group_for(key) == "external" for key in baseline
    )
    if not stages or not has_external or len({len(v) for v in stages}) != 1:
        return []
    return [sum(run) for run in zip(*stages, strict=True)]


def collect_samples(
    evidence: Mapping[str, TestEvidence],
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """All target samples per timing name across the session's tests, and their groups."""
    samples: dict[str, list[float]] = {}
    groups: dict[str, str] = {}
    for nodeid in sorted(evidence):
        ev = evidence[nodeid]
        for name, values in ev.timings.items():
            samples.setdefault(name, []).extend(float(v) for v in values)
            groups[name] = ev.timing_groups.get(name, groups.get(name, "own"))
    return samples, groups


def collect_reference_samples(evidence: Mapping[str, TestEvidence]) -> dict[str, list[float]]:
    """The reference deployment's samples per timing name across the session's tests."""
    samples: dict[str, list[float]] = {}
    for nodeid in sorted(evidence):
        for name, values in evidence[nodeid].reference_timings.items():
            samples.setdefault(name, []).extend(float(v) for v in values)
    return samples


def judge_session_timings(
    evidence: Mapping[str, TestEvidence],
    stored: SessionReference,
    perf: PerfConfig,
    reference_label: str = "reference deployment",  # reference.LABEL
) -> list[TimingResult]:
    """Every timing of the session judged against the stored reference (baseline or
    history) and, where the reference deployment ran the same thing in this run, against its
    samples too (a like-for-like canary analysis: one family per comparison, each with
    Holm's control). A timing the reference deployment covered needs no stored samples: it
    is judged against the stored ones only when they exist."""
    samples, groups = collect_samples(evidence)
    samples = {name: v for name, v in samples.items() if groups.get(name) != OBSERVED}
    plans = collect_plans(evidence)
    live = collect_reference_samples(evidence)
    have = stored.samples or {}
    by_stored = {
        name: values
        for name, values in samples.items()
        if name not in live or have.get(name) or _derived_own(name, have, perf)
    }
    results = (
        judge_timings(by_stored, groups, stored.samples, perf, plans, stored.label, stored.detail)
        if by_stored or not live
        else []
    )
    if live:
        compared = {name: samples[name] for name in live if name in samples}
        results += judge_timings(
            compared,
            groups,
            live,
            perf,
            plans,
            reference_label,
            "samples of the same uploads on the reference deployment, in this run",
        )
    return results


def observed_timings(evidence: Mapping[str, TestEvidence]) -> list[dict[str, Any]]:
    """The samples recorded and never judged (``observed`` group: an intermediate status's
    client-observed first sighting), per name, for the verdict and the report."""
    samples, groups = collect_samples(evidence)
    out = []
    for name in sorted(samples):
        if groups.get(name) != OBSERVED:
            continue
        from statistics import median

        out.append(
            {
                "name": name,
                "n": len(samples[name]),
                "median": median(samples[name]),
                "samples": samples[name],
                "rule": f"recorded, not judged ({CLIENT_OBSERVED_NOTE}; polling sees a short "
                "status only in some runs, so these samples are not compared run to run)",
            }
        )
    return out


def collect_plans(evidence: Mapping[str, TestEvidence]) -> dict[str, SamplingPlan]:
    """The sequential plan each sampled timing was taken with (``timings.sample``); timings
    recorded one by one have none and are judged as one fixed sample."""
    plans: dict[str, SamplingPlan] = {}
    for nodeid in sorted(evidence):
        for name, plan in evidence[nodeid].timing_plans.items():
            from pytest_deployverify.sequential import SamplingPlan

            plans.setdefault(name, SamplingPlan(**plan))
    return plans


def judge_timings(
    target: Mapping[str, list[float]],
    groups: Mapping[str, str],
    baseline: Mapping[str, list[float]] | None,
    perf: PerfConfig,
    plans: Mapping[str, SamplingPlan] | None = None,
    reference: str = "baseline",
    reference_detail: str = "",
) -> list[TimingResult]:
    """Judge each timing the session recorded, as one family (Holm over the timings that
    have reference samples, see ``judge.judge_family``). ``baseline`` None means no
    reference is available: every timing is then inconclusive (nothing to compare with),
    never a pass. A timing the reference has no samples for is a fail (a missing baseline is
    a fail). ``reference`` names what the samples are compared with, for the verdict."""
    if not target:
        return []  # nothing to judge: the statistics are not even loaded
    from pytest_deployverify.judge import TimingCase, judge, judge_family

    plans = plans or {}
    results: dict[str, TimingResult] = {}
    cases: list[TimingCase] = []
    for name in sorted(target):
        group = perf.group_for(name, groups.get(name))
        cfg = perf.for_timing(name)
        ref = baseline.get(name) if baseline is not None else None
        if baseline is not None and not ref:
            ref = _derived_own(name, baseline, perf) or None
        if baseline is None:
            res = judge(name, [], target[name], cfg, group)
            res.rule = "a baseline to compare with"
            res.reason = f"{name}: no baseline session, so nothing to compare the timing with"
            results[name] = res
        elif not ref:
            res = judge(name, [], target[name], cfg, group)
            res.outcome = "fail"
            res.rule = f"the {reference} must hold samples for every recorded timing"
            res.reason = (
                f"{name}: the {reference} has no samples for this timing; record the baseline "
                f"again (--record-baseline)"
            )
            results[name] = res
        else:
            cases.append(TimingCase(name, ref, target[name], cfg, group, plans.get(name)))
    for res in judge_family(cases):
        results[res.name] = res
    out = []
    for name in sorted(target):
        res = results[name]
        res.reference, res.reference_detail = reference, reference_detail
        if res.group == "external":
            res.service = perf.external_service(name)
        if client_observed(name):
            # the verdict and the report show the rule and reason: both say what was measured
            res.rule = f"{res.rule} ({CLIENT_OBSERVED_NOTE})"
            res.reason = f"{res.reason} [{CLIENT_OBSERVED_NOTE}]"
        out.append(res)
    return out


def reference_for_test(
    config: pytest.Config, nodeid: str
) -> tuple[ReferenceLookup | None, int, bool]:
    """What ``timings.sample`` compares with inside a test: the reference samples of each
    timing name (the environment's timing history, else this test's baseline), the family
    size (timing names in the reference) and whether this is record mode. ``(None, 1,
    False)`` with nothing to compare with."""
    from pytest_deployverify.baseline.session import session_of

    baseline = session_of(config)
    if baseline is not None and baseline.record_mode:
        return None, 1, True
    ref = session_reference(config, [nodeid])
    if ref.samples is None:
        return None, 1, False
    reference = ref.samples
    if ref.label == "history":
        family = len(reference)
    else:
        family = len(_reference_names(config)) or len(reference)
    return (lambda name: reference.get(name)), max(1, family), False


_NAMES_KEY = pytest.StashKey[frozenset[str]]()


def _reference_names(config: pytest.Config) -> frozenset[str]:
    """Every timing name the session's baseline holds (the run's family), read once."""
    from pytest_deployverify.baseline.session import session_of

    names = config.stash.get(_NAMES_KEY, None)
    if names is None:
        baseline = session_of(config)
        found: set[str] = set()
        for rel in baseline.all_files() if baseline is not None else []:
            assert baseline is not None
            try:
                loaded = baseline.summary(rel)
            except Exception:
                continue
            if loaded is not None:
                found.update(loaded.timings)
        names = frozenset(found)
        config.stash[_NAMES_KEY] = names
    return names


# ------------------------------------------------------------------------ the reference


@dataclass(frozen=True)
class SessionReference:
    """What this session's timings are judged against: samples per name (None: nothing to
    compare with), a label for the verdict (``baseline``, ``history``, ``baseline (history
    unusable)``) and one line on where the samples came from."""

    samples: dict[str, list[float]] | None
    label: str = "baseline"
    detail: str = ""
    #: a problem with the timing history the terminal summary repeats (corrupt file, ...)
    warning: str | None = None


_REFERENCE_KEY = pytest.StashKey[SessionReference]()
_HISTORY_NOTES_KEY = pytest.StashKey[list[str]]()


def _baseline_samples(
    config: pytest.Config, nodeids: Sequence[str]
) -> dict[str, list[float]] | None:
    from pytest_deployverify.baseline.session import session_of

    baseline = session_of(config)
    if baseline is None:
        return None
    return dict(baseline.baseline_timings(list(nodeids)))


def session_reference(config: pytest.Config, nodeids: Sequence[str] | None) -> SessionReference:
    """The timing history of the target's environment when it holds enough runs, else the
    baseline's samples for ``nodeids`` (None: every baseline file's). Read once per process
    for the history; a history that cannot be read falls back to the baseline, marked so."""
    from pytest_deployverify import settings

    cached = config.stash.get(_REFERENCE_KEY, None)
    cfg = settings.get(config)
    history = cfg.history
    if cached is None:
        cached = SessionReference(None)
        if history is not None and not cfg.baseline.record:
            from pytest_deployverify.timing_history import HistoryError, load_reference

            env = cfg.env_name
            try:
                ref = load_reference(history, env)
            except HistoryError as exc:
                cached = SessionReference(
                    None, "baseline (history unusable)", str(exc), warning=str(exc)
                )
            else:
                if ref is not None:
                    cached = SessionReference(ref.samples, "history", ref.detail)
                else:
                    cached = SessionReference(
                        None,
                        "baseline",
                        f"timing history for {env!r} in {history.directory} holds fewer than "
                        f"{history.min_runs} run(s) yet",
                    )
        config.stash[_REFERENCE_KEY] = cached
    if cached.label == "history":
        return cached
    base = _baseline_samples(config, nodeids) if nodeids is not None else None
    return SessionReference(base, cached.label, cached.detail, cached.warning)


def record_history(
    config: pytest.Config,
    evidence: Mapping[str, TestEvidence],
    verdict: str,
    deployment_version: Any,
    record_mode: bool,
) -> str | None:
    """Append this run's timing samples to the history when its verdict is pass, or with
    ``--accept-timings`` whatever the verdict (marked accepted). Returns a note for the
    terminal summary, or None when nothing was to be done."""
    from pytest_deployverify import settings

    cfg = settings.get(config)
    history = cfg.history
    if history is None or record_mode:
        return None
    samples, _ = collect_samples(evidence)
    if not samples:
        return None
    from pytest_deployverify.timing_history import append_run

    if verdict != "pass" and not history.accept:
        return (
            f"timing history: not appended (verdict {verdict}; a person can accept this run's "
            f"timings with --accept-timings)"
        )
    try:
        path = append_run(
            history, cfg.env_name, samples, verdict, deployment_version, history.accept
        )
    except OSError as exc:
        return f"timing history: WARNING: could not append to {history.directory} ({exc})"
    how = "accepted by hand" if history.accept else "verdict pass"
    return f"timing history: appended {len(samples)} timings to {path} ({how})"


def history_notes(config: pytest.Config) -> list[str]:
    """Lines for the terminal summary: which reference judged, history problems, appends."""
    notes = config.stash.get(_HISTORY_NOTES_KEY, None)
    return list(notes) if notes is not None else []


def add_history_note(config: pytest.Config, note: str | None) -> None:
    if note:
        config.stash.setdefault(_HISTORY_NOTES_KEY, []).append(note)

"""Comparing a target's observation with a reference deployment's live answers.

The reference answered the same request twice (``reference.py``). Its two answers are
learned from exactly like two record runs (``learn.learn``): what differs between them is the
service's noise and becomes a shape (or tolerance) rule; then the target's observation is
compared with the first answer under those rules and the check's own (``compare.verify``).
No second comparator: the stored-baseline check and this one share normalisation,
redaction, rules and difference reporting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_deployverify.baseline import compare as cmp
from pytest_deployverify.baseline import learn, shapes
from pytest_deployverify.baseline.model import MISSING, Difference, Rule
from pytest_deployverify.baseline.normalise import normalise
from pytest_deployverify.baseline.paths import PatternError, parse_pattern
from pytest_deployverify.baseline.redaction import Redactor, redact_observation


@dataclass
class LiveComparison:
    """The outcome of one check against the reference."""

    #: the reference's first answer, normalised and redacted (what the target is held to)
    reference: Any = None
    rules: list[Rule] = field(default_factory=list)
    diffs: list[Difference] = field(default_factory=list)
    dropped: int = 0
    #: why the reference could not be compared with (it did not answer), None when it was
    unavailable: str | None = None


def compare_live(
    value: Any,
    answers: Sequence[Any],
    errors: Sequence[str],
    user_rules: Sequence[Rule],
    secrets: list[str],
    headers: Any = None,
) -> LiveComparison:
    """Compare ``value`` (the target's observation) with the reference's ``answers``."""
    if len(answers) < 2 or any(a is None for a in answers):
        why = "; ".join(errors) or "the reference gave no answer"
        return LiveComparison(unavailable=why)
    seen = [redact_observation(normalise(a, headers=headers), secrets) for a in answers]
    first, rules = learn.learn(seen, list(user_rules))
    comparison = cmp.verify(first, value, rules, redactor=Redactor(secrets), headers=headers)
    diffs = [d for d in comparison.diffs if not _per_deployment(d)]
    return LiveComparison(first, rules, diffs, comparison.dropped)


def _per_deployment(diff: Difference) -> bool:
    """A UUID or a timestamp on both sides: each deployment has its own clock and its own
    identifiers, so they cannot be equal across deployments; their format still is compared
    (a value of another form is a difference). Needed where the reference's two answers are
    the same resource (a GET of one document asked twice), so learning saw no noise there."""
    e, o = diff.expected, diff.observed
    if diff.rule != "stable value" or not isinstance(e, str) or not isinstance(o, str):
        return False
    return (shapes.is_uuid(e) and shapes.is_uuid(o)) or (
        shapes.is_datetime(e) and shapes.is_datetime(o)
    )


def value_at(data: Any, path: str | None) -> Any:
    """The value at a concrete difference path (``$.a[0].b``) of ``data``; ``"<missing>"``
    when there is nothing there."""
    if path is None:
        return None
    try:
        segments = parse_pattern(path)
    except PatternError:
        return "<missing>"
    current = data
    for seg in segments:
        # two branches, not one: each narrows the segment's type (str key, int index)
        if isinstance(seg, str) and isinstance(current, dict) and seg in current:  # noqa: SIM114
            current = current[seg]
        elif (
            isinstance(seg, int)
            and isinstance(current, list)
            and -len(current) <= seg < len(current)
        ):
            current = current[seg]
        else:
            return "<missing>"
    return cmp.summarise(current if current is not MISSING else "<missing>")

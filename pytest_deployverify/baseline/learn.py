"""Noise learning: from N recordings of one observation, the rules a later run is held to.

- a path whose value differs between recordings becomes volatile: it keeps the JSON Schema
  shape its values had (``shapes.infer_shape``); a key present in only some recordings is
  volatile and optional;
- a float that jitters a little (spread within 5% of its value) gets a relative tolerance
  of five times the spread seen (at least 1%) instead of a shape; integers that differ (counts,
  milliseconds, ids) and floats that vary more become volatile with a number-range shape;
- a list whose elements are the same but whose order changes becomes unordered (elements
  equal as a multiset, or dicts aligned by a key whose values are the same set in every run);
- rules learned on list elements are generalised to ``[*]`` when every element satisfies them.

User rules (from the call and from configuration) win: nothing is learned below an ``ignore``
or ``shape`` rule, and a user ``unordered`` list is aligned before learning continues.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from pytest_deployverify.baseline import shapes
from pytest_deployverify.baseline.model import MISSING, Rule
from pytest_deployverify.baseline.paths import (
    WILD,
    Matcher,
    Path,
    PatternSegment,
    format_path,
    generalise,
    parse_pattern,
)

#: Relative spread up to which differing numbers are jitter (tolerance) rather than volatile.
JITTER_SPREAD = 0.05
MIN_REL_TOLERANCE = 0.01


def learn(runs: Sequence[Any], user_rules: Sequence[Rule] = ()) -> tuple[Any, list[Rule]]:
    """The value to store (the first recording) and every rule: user rules plus learned ones."""
    if not runs:
        raise ValueError("learn() needs at least one recording")
    if len(runs) == 1:
        return runs[0], list(user_rules)  # one recording: nothing varies, nothing to learn
    learner = _Learner(list(user_rules))
    learner.walk(list(runs), (), learner.matcher.start())
    return runs[0], [*user_rules, *learner.rules(runs[0])]


class _Learner:
    def __init__(self, user_rules: list[Rule]) -> None:
        self.user_rules = user_rules
        self.matcher = Matcher(tuple(parse_pattern(r.path) for r in user_rules))
        #: concrete path -> values seen in each run (MISSING where absent)
        self.volatile: dict[Path, list[Any]] = {}
        self.unordered: set[Path] = set()

    def walk(self, vals: list[Any], path: Path, states: frozenset[tuple[int, int]]) -> None:
        user_unordered = False
        for i in self.matcher.matched(states):
            kind = self.user_rules[i].kind
            if kind in ("ignore", "shape", "tolerance"):
                return
            user_unordered = user_unordered or kind == "unordered"
        first = vals[0]
        if all(_same(first, v) for v in vals[1:]):
            return
        if any(v is MISSING for v in vals):
            self.volatile[path] = vals
            return
        if all(type(v) is dict for v in vals):
            keys = list(first)
            for v in vals[1:]:
                keys.extend(k for k in v if k not in keys)
            for k in keys:
                self.walk(
                    [v.get(k, MISSING) for v in vals], (*path, k), self.matcher.step(states, k)
                )
            return
        if all(type(v) is list for v in vals):
            if len({len(v) for v in vals}) != 1:
                self.volatile[path] = vals
                return
            aligned = _align_unordered(vals)
            if aligned is not None:
                self.unordered.add(path)
                vals = aligned
            elif user_unordered:
                vals = [sorted(v, key=_canon) for v in vals]
            for i in range(len(vals[0])):
                self.walk([v[i] for v in vals], (*path, i), self.matcher.step(states, i))
            return
        self.volatile[path] = vals

    # ------------------------------------------------------------ rules from what was seen

    def rules(self, first_run: Any) -> list[Rule]:
        out: list[Rule] = [
            Rule(path=format_path(generalise(p)), kind="unordered")
            for p in sorted(self.unordered, key=str)
        ]
        out = _dedupe(out)
        groups: dict[tuple[PatternSegment, ...], list[Path]] = {}
        for path in self.volatile:
            groups.setdefault(generalise(path), []).append(path)
        for general, paths in sorted(groups.items(), key=lambda kv: format_path(kv[0])):
            rule = self._rule_for(paths, general)
            if rule is not None and (
                general == tuple(paths[0]) or self._holds_everywhere(rule, general, first_run)
            ):
                out.append(rule)
                continue
            for p in paths:  # generalising would be wrong for some element: keep them concrete
                r = self._rule_for([p], tuple(p))
                if r is not None:
                    out.append(r)
        return out

    def _rule_for(self, paths: list[Path], pattern: tuple[PatternSegment, ...]) -> Rule | None:
        values = [v for p in paths for v in self.volatile[p]]
        present = [v for v in values if v is not MISSING]
        optional = len(present) < len(values)
        where = format_path(pattern)
        if not optional and present and all(type(v) is float for v in present):
            rel = max((_jitter(self.volatile[p]) for p in paths), default=None)
            if rel is not None and not math.isinf(rel):
                return Rule(
                    path=where, kind="tolerance", rel=_round_up(max(5 * rel, MIN_REL_TOLERANCE))
                )
        return Rule(path=where, kind="shape", schema=shapes.infer_shape(present), optional=optional)

    def _holds_everywhere(
        self, rule: Rule, pattern: tuple[PatternSegment, ...], first_run: Any
    ) -> bool:
        for value in _find(first_run, pattern):
            if rule.kind == "tolerance" and not _is_number(value):
                return False
            if rule.kind == "shape" and shapes.violations(rule.schema or {}, value):
                return False
        return True


def _jitter(values: list[Any]) -> float:
    """Relative spread of one path's numbers; inf when they vary too much to be jitter."""
    center = abs(values[0])
    span = max(values) - min(values)
    if center == 0:
        return math.inf
    spread = span / center
    return spread if spread <= JITTER_SPREAD else math.inf


def _round_up(x: float) -> float:
    digits = 1 - math.floor(math.log10(abs(x)))
    factor = 10.0**digits
    return math.ceil(x * factor - 1e-9) / factor


def _is_number(v: Any) -> bool:
    return type(v) in (int, float)


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b) and not (_is_number(a) and _is_number(b)):
        return False
    if a != b:
        return False
    if type(a) in (dict, list):
        # == treats True and 1 alike; the canonical text does not
        return _canon(a) == _canon(b)
    return True


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)


def _align_unordered(vals: list[list[Any]]) -> list[list[Any]] | None:
    """Runs' lists re-ordered like the first run's, when they differ only in order."""
    canon = [[_canon(x) for x in v] for v in vals]
    if all(c == canon[0] for c in canon[1:]):
        return None  # same order: not an ordering question
    if all(sorted(c) == sorted(canon[0]) for c in canon[1:]):
        out = [vals[0]]
        for v, c in zip(vals[1:], canon[1:], strict=True):
            by_key: dict[str, list[Any]] = {}
            for x, k in zip(v, c, strict=True):
                by_key.setdefault(k, []).append(x)
            out.append([by_key[k].pop(0) for k in canon[0]])
        return out
    key = _alignment_key(vals)
    if key is None:
        return None
    first_order = [x[key] for x in vals[0]]
    if all([x[key] for x in v] == first_order for v in vals[1:]):
        return None
    out = [vals[0]]
    for v in vals[1:]:
        index = {x[key]: x for x in v}
        out.append([index[k] for k in first_order])
    return out


def _alignment_key(vals: list[list[Any]]) -> str | None:
    """A key present in every element with unique scalar values, the same set in every run."""
    if not vals[0] or not all(all(type(x) is dict for x in v) for v in vals):
        return None
    for key in vals[0][0]:
        sets = []
        for v in vals:
            items = [x.get(key, MISSING) for x in v]
            if any(type(i) not in (str, int) for i in items) or len(set(items)) != len(items):
                break
            sets.append(set(items))
        else:
            if all(s == sets[0] for s in sets[1:]):
                return str(key)
    return None


def _find(value: Any, pattern: tuple[PatternSegment, ...]) -> list[Any]:
    """Every value in ``value`` at a pattern of keys, indexes and ``*`` (no ``**``)."""
    found = [value]
    for seg in pattern:
        nxt = []
        for v in found:
            if seg is WILD:
                if type(v) is list:
                    nxt.extend(v)
                elif type(v) is dict:
                    nxt.extend(v.values())
            # two branches, not one: each narrows the segment's type (str key, int index)
            elif type(v) is dict and isinstance(seg, str) and seg in v:  # noqa: SIM114
                nxt.append(v[seg])
            elif type(v) is list and isinstance(seg, int) and -len(v) <= seg < len(v):
                nxt.append(v[seg])
        found = nxt
    return found


def _dedupe(rules: list[Rule]) -> list[Rule]:
    seen: set[tuple[str, str]] = set()
    out = []
    for r in rules:
        if (r.path, r.kind) not in seen:
            seen.add((r.path, r.kind))
            out.append(r)
    return out

"""Structural comparison of parsed data against a baseline, under rules.

Never compares serialised text: values are walked as dicts and lists, so key order and
formatting do not matter and every difference is reported at its JSON path with the rule it
broke. Subtrees no rule can reach take a fast path (no pattern matching at all), which is what
keeps a 20,000-record document cheap to verify.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

from pytest_deployverify.baseline import shapes
from pytest_deployverify.baseline.model import MISSING, Difference, Rule
from pytest_deployverify.baseline.paths import Matcher, Path, format_path, parse_pattern

#: ``json.dumps(value, sort_keys=True, default=str)`` without an encoder made per call (a
#: fifth of a small summary's cost, 9 of 44 thousand instructions: benchmarks/README.md)
_SORTED = json.JSONEncoder(sort_keys=True, default=str).encode

#: Differences kept per comparison; beyond this only the count is kept.
MAX_DIFFERENCES = 1000
#: Longest list aligned with a sequence matcher (quadratic); longer ones compare by position.
MAX_ALIGN = 5000
_NUM = (int, float)
#: Items per block when a long list is settled block by block (see ``_same_flat_items``).
_BLOCK = 512
_chain = chain.from_iterable

States = frozenset[tuple[int, int]]


def compare(expected: Any, observed: Any, rules: Sequence[Rule] = ()) -> list[Difference]:
    """Every difference between ``observed`` and the baseline ``expected`` under ``rules``."""
    return Comparison(rules).run(expected, observed)


def verify(
    expected: Any,
    value: Any,
    rules: Sequence[Rule] = (),
    *,
    redactor: Any = None,
    headers: Any = None,
) -> Comparison:
    """Compare what a test observed (any value ``normalise`` accepts) with its baseline.

    JSON data is compared as it is; only when that finds differences and the value is not
    plain JSON (a tuple, a datetime, ...) is it normalised and compared again. No difference
    means the value was structurally JSON-equal anyway (the walk is strict about types), so
    the common, matching case skips a whole pass over a large document.
    """
    from pytest_deployverify.baseline.normalise import is_plain, normalise

    t = type(value)
    raw = t is dict or t is list or t is str or t is int or t is float or t is bool or value is None
    observed = value if raw else normalise(value, headers=headers)
    comparison = Comparison(rules, redactor=redactor)
    comparison.run(expected, observed)
    if comparison.diffs and raw and not is_plain(observed):
        comparison = Comparison(rules, redactor=redactor)
        comparison.run(expected, normalise(observed, headers=headers))
    return comparison


class Comparison:
    """One comparison run: compiled rules plus the differences found so far."""

    def __init__(
        self,
        rules: Sequence[Rule] = (),
        max_differences: int = MAX_DIFFERENCES,
        redactor: Any = None,
    ):
        """``redactor`` (``redaction.Redactor``): observed values and details are redacted as
        each difference is recorded, and a value that equals its baseline once redacted (the
        baseline was redacted when it was recorded) is no difference."""
        self.redactor = redactor
        self.rules = list(rules)
        self.matcher = Matcher(tuple(parse_pattern(r.path) for r in self.rules))
        self.diffs: list[Difference] = []
        self.dropped = 0
        self.max_differences = max_differences

    def run(self, expected: Any, observed: Any) -> list[Difference]:
        self._node(expected, observed, (), self.matcher.start(), None)
        return self.diffs

    # ------------------------------------------------------------ reporting

    def _add(self, path: Path, expected: Any, observed: Any, rule: str, detail: str = "") -> None:
        if self.redactor is not None:
            if observed is not MISSING:
                key = path[-1] if path and isinstance(path[-1], str) else None
                observed = self.redactor.value(observed, key)
                if (
                    rule in ("stable value", "type")
                    and observed == expected
                    and type(observed) is type(expected)
                ):
                    return  # only the secret differed: the baseline holds it redacted
            detail = self.redactor.text(detail)
        if len(self.diffs) >= self.max_differences:
            self.dropped += 1
            return
        self.diffs.append(
            Difference(format_path(path), summarise(expected), summarise(observed), rule, detail)
        )

    # ------------------------------------------------------------ rule-aware walk

    def _node(self, e: Any, o: Any, path: Path, states: States, tol: Rule | None) -> None:
        if not states and tol is None:
            self._plain(e, o, path)
            return
        unordered = False
        if states:
            for i in self.matcher.matched(states):
                rule = self.rules[i]
                if rule.kind == "ignore":
                    return
            for i in self.matcher.matched(states):
                rule = self.rules[i]
                if rule.kind == "shape":
                    self._shape(rule, e, o, path)
                    return
            for i in self.matcher.matched(states):
                rule = self.rules[i]
                if rule.kind == "tolerance":
                    tol = rule
                elif rule.kind == "unordered":
                    unordered = True
        if o is MISSING:
            self._add(path, e, MISSING, "missing key")
            return
        if e is MISSING:
            self._add(path, MISSING, o, "extra key")
            return
        te, to = type(e), type(o)
        if te is dict and to is dict:
            for k, ev in e.items():
                self._node(ev, o.get(k, MISSING), (*path, k), self.matcher.step(states, k), tol)
            for k, ov in o.items():
                if k not in e:
                    self._node(MISSING, ov, (*path, k), self.matcher.step(states, k), tol)
            return
        if te is list and to is list:
            if unordered:
                self._unordered(e, o, path, states, tol)
            else:
                self._ordered(e, o, path, states, tol)
            return
        if tol is not None and te in _NUM and to in _NUM:
            allowed = max(tol.abs or 0.0, (tol.rel or 0.0) * abs(e))
            if abs(o - e) > allowed:
                self._add(
                    path,
                    e,
                    o,
                    "tolerance",
                    f"|observed - expected| = {abs(o - e):.6g} > {allowed:.6g} ({tol.describe()})",
                )
            return
        self._leaf(e, o, path)

    def _shape(self, rule: Rule, e: Any, o: Any, path: Path) -> None:
        if o is MISSING:
            if not rule.optional:
                self._add(
                    path, e, MISSING, "missing key", f"volatile, must match {rule.describe()}"
                )
            return
        problems = shapes.violations(rule.schema or {}, o)
        if problems:
            where, msg = problems[0]
            extra = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            inner = "" if where == "$" else f" at {where}"
            self._add(path, rule.schema, o, "shape", f"{msg}{inner}{extra}")

    def _leaf(self, e: Any, o: Any, path: Path) -> None:
        te, to = type(e), type(o)
        if te is to or (te in _NUM and to in _NUM):
            if e != o:
                self._add(path, e, o, "stable value")
        else:
            self._add(path, e, o, "type", f"expected {_type_name(e)}, observed {_type_name(o)}")

    # ------------------------------------------------------------ lists

    def _ordered(
        self, e: list[Any], o: list[Any], path: Path, states: States, tol: Rule | None
    ) -> None:
        if len(e) == len(o):
            for i, (ev, ov) in enumerate(zip(e, o, strict=True)):
                self._node(ev, ov, (*path, i), self.matcher.step(states, i), tol)
            return
        self._add(path, f"{len(e)} items", f"{len(o)} items", "list length")
        if len(e) > MAX_ALIGN or len(o) > MAX_ALIGN:
            for i in range(min(len(e), len(o))):
                self._node(e[i], o[i], (*path, i), self.matcher.step(states, i), tol)
            return
        ekeys = [self._key(v, self.matcher.step(states, i)) for i, v in enumerate(e)]
        okeys = [self._key(v, self.matcher.step(states, i)) for i, v in enumerate(o)]
        matcher = difflib.SequenceMatcher(a=ekeys, b=okeys, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):
                for di in range(i2 - i1):
                    i, j = i1 + di, j1 + di
                    self._node(e[i], o[j], (*path, i), self.matcher.step(states, i), tol)
                continue
            for i in range(i1, i2):
                self._add((*path, i), e[i], MISSING, "missing item")
            for j in range(j1, j2):
                self._add((*path, j), MISSING, o[j], "extra item", f"at observed index {j}")

    def _unordered(
        self, e: list[Any], o: list[Any], path: Path, states: States, tol: Rule | None
    ) -> None:
        if len(e) != len(o):
            self._add(path, f"{len(e)} items", f"{len(o)} items", "list length")
        buckets: dict[str, list[int]] = {}
        for j, ov in enumerate(o):
            buckets.setdefault(self._key(ov, self.matcher.step(states, j)), []).append(j)
        left_e: list[int] = []
        for i, ev in enumerate(e):
            child = self.matcher.step(states, i)
            js = buckets.get(self._key(ev, child))
            if js:
                self._node(ev, o[js.pop(0)], (*path, i), child, tol)
            else:
                left_e.append(i)
        left_o = sorted(j for js in buckets.values() for j in js)
        if left_e and len(left_e) == len(left_o):
            # Same count unmatched on both sides: most likely changed elements, so show the
            # field-level differences rather than two opaque blobs.
            for i, j in zip(left_e, left_o, strict=True):
                self._node(e[i], o[j], (*path, i), self.matcher.step(states, i), tol)
            return
        for i in left_e:
            self._add((*path, i), e[i], MISSING, "unordered mismatch", "no equal element observed")
        for j in left_o:
            self._add((*path, j), MISSING, o[j], "extra item", f"at observed index {j}")

    def _key(self, value: Any, states: States) -> str:
        """Canonical text of ``value`` with every rule-governed place masked, for alignment."""
        if states:
            value = self._mask(value, states)
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)

    def _mask(self, value: Any, states: States) -> Any:
        if not states:
            return value
        for i in self.matcher.matched(states):
            if self.rules[i].kind in ("ignore", "shape", "tolerance"):
                return "\x00masked"
        if type(value) is dict:
            return {k: self._mask(v, self.matcher.step(states, k)) for k, v in value.items()}
        if type(value) is list:
            return [self._mask(v, self.matcher.step(states, i)) for i, v in enumerate(value)]
        return value

    # ------------------------------------------------------------ fast path (no rules below)

    def _plain(self, e: Any, o: Any, path: Path) -> None:
        te = type(e)
        if te is not type(o):
            if o is MISSING:
                self._add(path, e, MISSING, "missing key")
            elif e is MISSING:
                self._add(path, MISSING, o, "extra key")
            elif te in _NUM and type(o) in _NUM:
                if e != o:
                    self._add(path, e, o, "stable value")
            else:
                self._add(path, e, o, "type", f"expected {_type_name(e)}, observed {_type_name(o)}")
            return
        if te is dict:
            # Fast path (C speed): equal under == and the same value type under every key.
            # == alone would take True for 1; the type lists rule that out for a flat record,
            # and nested containers are still walked.
            if e == o:
                types = list(map(type, e.values()))
                # o's value types in e's key order (a baseline file's keys are sorted)
                if (
                    dict not in types
                    and list not in types
                    and types == list(map(type, map(o.__getitem__, e)))
                ):
                    return
            plain = self._plain
            for k, ev in e.items():
                ov = o.get(k, MISSING)
                tv = type(ev)
                # inline the leaf case: most nodes of a large document are equal scalars
                if tv is type(ov) and tv is not dict and tv is not list:
                    if ev != ov:
                        self._add((*path, k), ev, ov, "stable value")
                    continue
                plain(ev, ov, (*path, k))
            if o.keys() != e.keys():
                for k, ov in o.items():
                    if k not in e:
                        self._add((*path, k), MISSING, ov, "extra key")
            return
        if te is list:
            n = len(e)
            if n != len(o):
                self._ordered(e, o, path, frozenset(), None)
                return
            if n <= _BLOCK:
                if not _same_flat_items(e, o):
                    self._plain_items(e, o, path, 0, n)
                return
            # Blocks of items: an equal block of flat records is settled at C speed, and only
            # a block holding a difference (or nested containers) is walked item by item.
            for start in range(0, n, _BLOCK):
                stop = min(start + _BLOCK, n)
                if not _same_flat_items(e[start:stop], o[start:stop]):
                    self._plain_items(e, o, path, start, stop)
            return
        if e != o:
            self._add(path, e, o, "stable value")

    def _plain_items(self, e: list[Any], o: list[Any], path: Path, start: int, stop: int) -> None:
        """The fast-path walk of ``e[start:stop]`` against ``o[start:stop]`` (equal lengths)."""
        plain = self._plain
        for i in range(start, stop):
            ev, ov = e[i], o[i]
            tv = type(ev)
            if tv is type(ov):
                if tv is dict:
                    # the dict fast path, inlined: lists of flat records are the bulk
                    # of a document summary
                    if ev == ov:
                        types = list(map(type, ev.values()))
                        if (
                            dict not in types
                            and list not in types
                            and types == list(map(type, map(ov.__getitem__, ev)))
                        ):
                            continue
                elif tv is not list:
                    if ev != ov:
                        self._add((*path, i), ev, ov, "stable value")
                    continue
            plain(ev, ov, (*path, i))


def _same_flat_items(e: list[Any], o: list[Any]) -> bool:
    """True when two lists of scalars, or of flat records (objects of scalars) with one key
    set, are equal exactly as the walk would find them: ``==`` and the same type at every
    place.

    Every step runs at C speed (``map``/``itemgetter``, no Python-level loop per item), which
    is what makes a list of 20,000 chunk records cheap. ``==`` alone would take ``True`` and
    ``1.0`` for ``1``, hence the type lists. False (walk the items) whenever unsure: nested
    containers, mixed element types or key sets, any inequality.
    """
    types = list(map(type, e))
    if list in types:
        return False
    if dict not in types:
        return e == o and types == list(map(type, o))
    if types.count(dict) != len(types):
        return False
    keys = tuple(e[0])
    if len(set(map(len, e))) != 1:
        return False
    if not keys:
        return e == o and types == list(map(type, o))
    # Values in one key order on both sides (an observation's key order need not be the
    # file's sorted one); a record lacking one of the keys raises KeyError: walk it.
    get = itemgetter(*keys)
    try:
        value_types = _value_types(map(get, e), len(keys))
    except KeyError:
        return False
    if dict in value_types or list in value_types:
        return False
    # == before reading o by e's keys: equal dicts have the same keys
    if e != o or types != list(map(type, o)):
        return False
    return value_types == _value_types(map(get, o), len(keys))


def _value_types(rows: Any, width: int) -> list[type]:
    # itemgetter of one key returns the value itself, of several a tuple
    return list(map(type, rows if width == 1 else _chain(rows)))


def _type_name(value: Any) -> str:
    if value is MISSING:
        return "nothing"
    return shapes._json_type(value) if value is not None else "null"


def summarise(value: Any, limit: int = 160) -> Any:
    """``value`` small enough for a message or a finding (long values are cut, with a note)."""
    if value is MISSING:
        return "<missing>"
    if isinstance(value, str):
        return value if len(value) <= limit else f"{value[: limit - 20]}...<{len(value)} chars>"
    if isinstance(value, dict | list):
        if len(value) <= limit // 4 and _flat(value):
            # a small record of scalars: its whole JSON is short to make (C speed), and the
            # same text as _bounded_json's
            text = _SORTED(value)
        else:
            text = _bounded_json(value, limit + 1)
        if len(text) <= limit:
            return value
        kind = (
            f"object with {len(value)} keys"
            if isinstance(value, dict)
            else f"list of {len(value)} items"
        )
        return f"<{kind}: {text[: limit - 40]}...>"
    return value


def _flat(value: dict[Any, Any] | list[Any]) -> bool:
    """A dict with string keys, or a list, holding no container."""
    if type(value) is dict:
        return all(type(k) is str for k in value) and all(
            type(v) in _FLAT_SCALARS for v in value.values()
        )
    return all(type(v) in _FLAT_SCALARS for v in value)


_FLAT_SCALARS = frozenset({str, int, float, bool, type(None)})


def _bounded_json(value: Any, budget: int) -> str:
    """The start of ``value``'s canonical JSON, at most about ``budget`` characters (a large
    document is never serialised whole just to show its first line)."""
    if isinstance(value, dict):
        parts, used = ["{"], 1
        for i, k in enumerate(sorted(value)):
            piece = ("" if i == 0 else ", ") + json.dumps(k) + ": "
            piece += _bounded_json(value[k], budget - used - len(piece))
            parts.append(piece)
            used += len(piece)
            if used >= budget:
                return "".join(parts)
        return "".join(parts) + "}"
    if isinstance(value, list):
        parts, used = ["["], 1
        for i, v in enumerate(value):
            piece = ("" if i == 0 else ", ") + _bounded_json(v, budget - used - 2)
            parts.append(piece)
            used += len(piece)
            if used >= budget:
                return "".join(parts)
        return "".join(parts) + "]"
    return json.dumps(value, default=str)


def render(value: Any) -> str:
    """One value as it appears in a failure line."""
    if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
        return value
    return _SORTED(value)


def format_differences(diffs: Sequence[Difference], limit: int = 40, dropped: int = 0) -> list[str]:
    """Failure lines, one per difference: ``path: expected X, observed Y [rule] detail``."""
    lines = []
    for d in diffs[:limit]:
        line = f"{d.path}: expected {render(d.expected)}, observed {render(d.observed)} [{d.rule}]"
        if d.detail:
            line += f" {d.detail}"
        lines.append(line)
    more = len(diffs) - limit + dropped
    if more > 0:
        lines.append(f"... and {more} more differences (all listed in the report's findings)")
    return lines

"""What one response mutant does: an operator applied to one path of one route's responses.

The operators (:data:`OPERATORS`) change a value, bump a number, flip a boolean, shift a
timestamp, remove a key, drop or reorder a list's items, strip a header. A
:class:`MutatingObserver` applies one mutant to every response of its route as the client
receives it (never what the client sends: an altered ID sent back is restored). Choosing and
running mutants is :mod:`mutation`'s.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, TypedDict

from pytest_deployverify.baseline.paths import WILD, PatternError, parse_pattern
from pytest_deployverify.fieldcoverage import Observer, parsed_json, route_of

OPERATORS = {
    "change": "a string value changed (one character, same kind)",
    "bump": "a number increased (int +1, float x1.5+1)",
    "flip": "a boolean negated",
    "shift_time": "a timestamp moved one hour later",
    "null": "a value replaced by null",
    "fill": "a null replaced by a string",
    "remove": "the key removed",
    "drop_item": "the list's last item dropped",
    "reorder": "the list's order reversed",
    "strip_header": "the response header removed",
}


class MutantSelector(TypedDict):
    """Which field a mutant alters, and how (what a mutation child is told)."""

    route: str
    path: str
    operator: str


class MutatingObserver:
    """Alters one path of one route in every response received, then records as usual."""

    def __init__(self, mutant: MutantSelector, inner: Observer) -> None:
        self.route = mutant["route"]
        self.path = mutant["path"]
        self.operator = mutant["operator"]
        self.inner = inner
        #: altered string -> original: an altered ID is never sent back to the target
        self.altered: dict[str, str] = {}
        self.applied = 0

    def sending(self, method: str, url: str) -> str:
        for new, old in self.altered.items():
            if new in url:
                url = url.replace(new, old)
        return self.inner.sending(method, url)

    def received(self, method: str, path: str, response: Any) -> None:
        if route_of(method, path) == self.route:
            self._mutate(response)
        self.inner.received(method, path, response)

    def _mutate(self, response: Any) -> None:
        if self.operator == "strip_header":
            if self.path in response.headers:
                del response.headers[self.path]
                self.applied += 1
            return
        data = parsed_json(response)
        if not isinstance(data, (dict, list)):
            return
        if apply(data, self.path, self.operator, self.altered):
            response._content = json.dumps(data).encode()
            self.applied += 1


def _segments(path: str) -> list[Any]:
    try:
        return list(parse_pattern(path.replace("{id}", "*")))
    except PatternError:
        return []


def apply(data: Any, path: str, operator: str, altered: dict[str, str]) -> bool:
    """Apply ``operator`` at ``path`` in place; True if done. A ``[*]`` (or ``{id}``) takes
    the first item in which the rest of the path exists: one place per response."""
    segs = _segments(path)
    return bool(segs) and _apply_at(data, segs, operator, altered)


def _apply_at(node: Any, segs: list[Any], operator: str, altered: dict[str, str]) -> bool:
    seg, rest = segs[0], segs[1:]
    if seg is WILD:
        keys: list[Any] = (
            list(range(len(node)))
            if isinstance(node, list)
            else list(node)
            if isinstance(node, dict)
            else []
        )
    elif isinstance(node, dict) and seg in node:
        keys = [seg]
    else:
        return False
    for key in keys:
        if rest:
            if _apply_at(node[key], rest, operator, altered):
                return True
        elif _apply_leaf(node, key, operator, altered):
            return True
    return False


def _apply_leaf(parent: Any, key: Any, operator: str, altered: dict[str, str]) -> bool:
    node = parent[key]
    if operator == "remove":
        if isinstance(parent, dict):
            del parent[key]
            return True
        return False
    if operator in ("drop_item", "reorder"):
        if not isinstance(node, list) or not node:
            return False
        if operator == "drop_item":
            node.pop()
            return True
        flipped = list(reversed(node))
        if flipped == node:
            return False
        node[:] = flipped
        return True
    new = _mutated_value(node, operator)
    if new is _SAME:
        return False
    if isinstance(node, str) and isinstance(new, str):
        altered[new] = node
    parent[key] = new
    return True


_SAME = object()
_CYCLES = ("0123456789", "abcdef", "ABCDEF", "ghijklmnopqrstuvwxyz", "GHIJKLMNOPQRSTUVWXYZ")


def _mutated_value(value: Any, operator: str) -> Any:
    if operator == "null":
        return None if value is not None else _SAME
    if operator == "fill":
        return "mutated" if value is None else _SAME
    if operator == "flip":
        return (not value) if isinstance(value, bool) else _SAME
    if operator == "bump":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _SAME
        return value + 1 if isinstance(value, int) else value * 1.5 + 1.0
    if operator == "shift_time":
        return _shift(value) if isinstance(value, str) else _SAME
    if operator == "change":
        if not isinstance(value, str):
            return _SAME
        if not value:
            return "mutated"
        last = value[-1]
        for cycle in _CYCLES:
            if last in cycle:
                return value[:-1] + cycle[(cycle.index(last) + 1) % len(cycle)]
        return value + "x"
    return _SAME


def _shift(text: str) -> Any:
    zulu = text.endswith(("Z", "z"))
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if zulu else text)
    except ValueError:
        return _SAME
    moved = (when + timedelta(hours=1)).isoformat()
    return moved.replace("+00:00", "Z") if zulu else moved

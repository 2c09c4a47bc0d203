"""Marking what touched a response's fields: tracked containers and the marks checks leave.

A JSON body the ``api`` client or ``upload_document`` received is wrapped in
:class:`TrackedDict` / :class:`TrackedList`, which mark a path ``read`` in the route's
:class:`RouteFields` when code indexes or ``get``-s it. The baseline comparison marks what it
compared (``exact`` or under a ``rule``: :func:`note_compared`), a JSON Schema what it
constrains beyond its type (:func:`note_schema`). :mod:`fieldcoverage` records, merges and
reports these marks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from pytest_deployverify.baseline.paths import PatternError, format_path, parse_pattern
from pytest_deployverify.baseline.shapes import _json_type

_ID_KEY = re.compile(r"^(?:[0-9a-fA-F-]{16,}|\d+)$")
#: whether this process tracks any response body yet (``install_tracking``): every tracked
#: body descends from one, so until then a compared value holds none to mark
_tracking = False
#: schema keywords that constrain a value beyond its type
SCHEMA_CONSTRAINTS = frozenset(
    {
        "const",
        "enum",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
    }
)


_CHILD_PATHS: dict[tuple[str, str], str] = {}


def child_path(prefix: str, key: str | int) -> str:
    """The canonical path of ``key`` under ``prefix`` (indices and ID-like keys collapsed).

    Cached: the same few paths come back in every response of a route, and this runs once
    per leaf of every body received.
    """
    if type(key) is int:
        return prefix + "[*]"
    cached = _CHILD_PATHS.get((prefix, key))  # type: ignore[arg-type]
    if cached is not None:
        return cached
    assert isinstance(key, str)
    path = prefix + ".{id}" if _ID_KEY.match(key) else format_path([key]).replace("$", prefix, 1)
    if len(_CHILD_PATHS) < 50_000:
        _CHILD_PATHS[(prefix, key)] = path
    return path


@dataclass(eq=False)
class RouteFields:
    """What one route's responses held and what touched each path, for one test."""

    #: canonical path -> an example value (as received; redacted when exported)
    seen: dict[str, Any] = field(default_factory=dict)
    #: canonical path -> kinds that touched it
    touched: dict[str, set[str]] = field(default_factory=dict)
    #: response header names (for the strip_header mutant)
    headers: set[str] = field(default_factory=set)

    def touch(self, path: str, kind: str) -> None:
        kinds = self.touched.get(path)
        if kinds is None:
            self.touched[path] = {kind}
        else:
            kinds.add(kind)


# ---------------------------------------------------------------- tracked containers


class TrackedDict(dict):  # type: ignore[type-arg]
    """A real ``dict`` (equality, ``json.dumps``, ``isinstance`` all work) that marks a key
    ``read`` when it is indexed or ``get``-ed. Nested containers are wrapped when reached."""

    __slots__ = ("_fields", "_path")

    def __init__(self, data: Any = (), fields: RouteFields | None = None, path: str = "$") -> None:
        # copies made by generic code (dataclasses.asdict calls type(obj)(items)) track
        # into a detached sink: only the client's own trees report reads
        super().__init__(data)
        self._fields = fields if fields is not None else RouteFields()
        self._path = path

    def _child(self, key: Any, value: Any) -> Any:
        t = type(value)
        if t is dict or t is list:
            wrapped = wrap(value, self._fields, child_path(self._path, key))
            dict.__setitem__(self, key, wrapped)
            return wrapped
        return value

    def __getitem__(self, key: Any) -> Any:
        value = dict.__getitem__(self, key)
        if isinstance(key, str) and not _QUIET.get():
            self._fields.touch(child_path(self._path, key), "read")
        return self._child(key, value)

    def get(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            return default
        return self[key]

    # iteration hands out wrapped children but reads nothing: copying a body (redaction,
    # json.dumps, dict(...)) is not a check
    def values(self) -> Any:
        return [self._child(k, dict.__getitem__(self, k)) for k in list(dict.keys(self))]

    def items(self) -> Any:
        return [(k, self._child(k, dict.__getitem__(self, k))) for k in list(dict.keys(self))]

    def __reduce__(self) -> Any:
        return (dict, (plain(self),))

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        import copy

        return copy.deepcopy(plain(self), memo)


class TrackedList(list):  # type: ignore[type-arg]
    """A real ``list`` whose dict/list items are tracked (index ``[*]``)."""

    __slots__ = ("_fields", "_path")

    def __init__(
        self, data: Iterable[Any] = (), fields: RouteFields | None = None, path: str = "$"
    ) -> None:
        super().__init__(data)
        self._fields = fields if fields is not None else RouteFields()
        self._path = path

    def _child(self, i: int, value: Any) -> Any:
        t = type(value)
        if t is dict or t is list:
            wrapped = wrap(value, self._fields, self._path + "[*]")
            list.__setitem__(self, i, wrapped)
            return wrapped
        return value

    def _item(self, i: int, value: Any) -> Any:
        if not _branch(value) and not _QUIET.get():
            self._fields.touch(self._path + "[*]", "read")
        return self._child(i, value)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = index if index >= 0 else len(self) + index
        return self._item(i, list.__getitem__(self, index))

    def __iter__(self) -> Iterator[Any]:
        # code iterating a list of scalars reads them (a vector summed, statuses listed);
        # the plugin's own copies (redaction, normalisation) run quietly
        marked = _QUIET.get()
        for i in range(len(self)):
            value = list.__getitem__(self, i)
            if not marked and not _branch(value):
                self._fields.touch(self._path + "[*]", "read")
                marked = True
            yield self._child(i, value)

    def __reduce__(self) -> Any:
        return (list, (plain(self),))

    def __copy__(self) -> list[Any]:
        return list(list.__iter__(self))

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        import copy

        return copy.deepcopy(plain(self), memo)


_QUIET: ContextVar[bool] = ContextVar("deployverify_fields_quiet", default=False)


@contextmanager
def quiet() -> Iterator[None]:
    """Reads inside are not marked: the plugin copying or normalising a body checks nothing."""
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)


def redact_tracked(value: Any, secrets: Sequence[str]) -> Any:
    """A redacted copy of a (possibly tracked) body that keeps reporting reads."""
    from pytest_deployverify.redact import redact_value

    with quiet():
        copy = redact_value(value, secrets)
    return retrack(copy, value)


def _branch(value: Any) -> bool:
    """A non-empty container (an empty one is a leaf: its emptiness is the value)."""
    return isinstance(value, (dict, list)) and bool(value)


def wrap(value: Any, fields: RouteFields, path: str) -> Any:
    """``value`` (JSON data) as a tracked container bound to ``fields`` at ``path``."""
    t = type(value)
    if t is dict:
        return TrackedDict(value, fields, path)
    if t is list:
        return TrackedList(value, fields, path)
    return value


def plain(value: Any) -> Any:
    """A plain copy of (possibly tracked) JSON data; nothing is marked."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in dict.items(value)}
    if isinstance(value, list):
        return [plain(v) for v in list.__iter__(value)]
    return value


def retrack(copy: Any, original: Any) -> Any:
    """``copy`` tracked like ``original`` when that is tracked (a redacted copy of a body
    keeps reporting reads); else ``copy`` itself."""
    if isinstance(original, (TrackedDict, TrackedList)) and type(copy) in (dict, list):
        return wrap(copy, original._fields, original._path)
    return copy


def install_tracking(response: Any, data: Any, fields: RouteFields) -> None:
    """Make ``response.json()`` return a tracked tree (the first call reuses ``data``).

    The replacement holds the body's bytes, not the response: a function on the response
    that referred back to it would make every response a reference cycle, freed only by the
    cyclic garbage collector (that cost a client ~0.2 ms per request)."""
    global _tracking
    _tracking = True
    content = response.content
    first = [data]

    def tracked_json(**kwargs: Any) -> Any:
        if kwargs:  # what requests does with them: hand them to the decoder, nothing tracked
            return json.loads(content, **kwargs)
        value = first.pop() if first else json.loads(content)
        return wrap(value, fields, "$")

    response.json = tracked_json


# ---------------------------------------------------------------- what checks touched


def touch_tree(value: Any, kind: str) -> None:
    """Mark every leaf below ``value`` (a tracked container, else nothing) with ``kind``."""
    if isinstance(value, TrackedDict):
        for k, v in dict.items(value):
            p = child_path(value._path, k)
            if _branch(v):
                touch_tree(wrap(plain(v), value._fields, p), kind)
            else:
                value._fields.touch(p, kind)
    elif isinstance(value, TrackedList):
        p = value._path + "[*]"
        for v in list.__iter__(value):
            if _branch(v):
                touch_tree(wrap(plain(v), value._fields, p), kind)
            else:
                value._fields.touch(p, kind)


def _tracked_root(value: Any) -> tuple[Any, tuple[str, ...]]:
    """The data a check sees and where its tracked body sits: a response's body is under
    ``body`` in an observation; ``to_observation()`` objects are asked for theirs."""
    if hasattr(value, "status_code") and callable(getattr(value, "json", None)):
        try:
            return value.json(), ("body",)
        except ValueError:
            return None, ()
    to_obs = getattr(value, "to_observation", None)
    if callable(to_obs):
        return to_obs(), ()
    return value, ()


def note_compared(value: Any, rules: Sequence[Any]) -> None:
    """A baseline comparison of ``value`` ran under ``rules`` (``baseline.model.Rule``):
    leaves of tracked bodies in it become ``exact`` or ``rule``; ignored places nothing."""
    from pytest_deployverify.baseline.paths import Matcher

    if not _tracking:
        return  # no response body is tracked in this process: nothing to mark, no walk
    data, prefix = _tracked_root(value)
    try:
        matcher = Matcher(tuple(parse_pattern(r.path) for r in rules))
    except PatternError:
        return
    states = matcher.start()
    for seg in prefix:
        states = matcher.step(states, seg)
    _walk_compared(data, matcher, states, rules, None)


def _rule_at(matcher: Any, states: Any, rules: Sequence[Any], how: str | None) -> str | None:
    """``"ignored"``, ``"rule"`` or ``how`` for the place ``states`` stands at."""
    for i in matcher.matched(states) if states else ():
        kind = rules[i].kind
        if kind == "ignore":
            return "ignored"
        if kind in ("shape", "tolerance", "unordered"):
            how = "rule"
    return how


def _children(value: Any) -> list[tuple[Any, Any]]:
    if isinstance(value, dict):
        return list(dict.items(value))
    if isinstance(value, list):
        return list(enumerate(list.__iter__(value)))
    return []


def _walk_compared(
    value: Any, matcher: Any, states: Any, rules: Sequence[Any], how: str | None
) -> None:
    how = _rule_at(matcher, states, rules, how)
    if how == "ignored":
        return
    tracked = isinstance(value, (TrackedDict, TrackedList))
    for key, v in _children(value):
        if not tracked and not isinstance(v, (dict, list)):
            continue  # a leaf of plain data marks nothing: only tracked bodies hold marks
        child = matcher.step(states, key)
        if tracked and not _branch(v):
            leaf = _rule_at(matcher, child, rules, how)
            if leaf != "ignored":
                value._fields.touch(child_path(value._path, key), leaf or "exact")
            continue
        if tracked:
            v = value._child(key, v)
        _walk_compared(v, matcher, child, rules, how)


def note_schema(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any] | None = None
) -> None:
    """``value`` was validated against ``schema`` (``$ref`` resolved in ``root``): leaves of
    tracked bodies whose schema constrains more than their type become ``schema``."""
    data, _ = _tracked_root(value)
    if isinstance(data, (TrackedDict, TrackedList)):
        _walk_schema(data, schema, root if root is not None else schema, 0)


def _resolve(schema: Any, root: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """``schema`` with local ``$ref`` followed and ``allOf`` flattened."""
    out: list[Mapping[str, Any]] = []
    todo = [schema]
    hops = 0
    while todo and hops < 50:
        hops += 1
        s = todo.pop()
        if not isinstance(s, Mapping):
            continue
        ref = s.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            node: Any = root
            for part in ref.lstrip("#").strip("/").split("/") if ref != "#" else []:
                node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if node else {}
            todo.append(node)
        out.append(s)
        todo.extend(s.get("allOf") or [])
    return out


def _branches(schemas: list[Mapping[str, Any]], value: Any) -> list[Mapping[str, Any]]:
    """The ``anyOf``/``oneOf`` branches that could describe ``value`` (by type)."""
    t = _json_type(value)
    out: list[Mapping[str, Any]] = []
    for s in schemas:
        for key in ("anyOf", "oneOf"):
            for b in s.get(key) or []:
                if isinstance(b, Mapping):
                    types = b.get("type")
                    names = [types] if isinstance(types, str) else list(types or [])
                    if not names or t in names or (t == "integer" and "number" in names):
                        out.append(b)
    return out


def _walk_schema(value: Any, schema: Any, root: Mapping[str, Any], depth: int) -> None:
    if depth > 64:
        return
    schemas = _resolve(schema, root)
    for branch in _branches(schemas, value):
        schemas += _resolve(branch, root)
    if isinstance(value, TrackedDict):
        for k, v in dict.items(value):
            subs: list[Any] = []
            for s in schemas:
                props = s.get("properties") or {}
                if k in props:
                    subs.append(props[k])
                    continue
                for pat, sub in (s.get("patternProperties") or {}).items():
                    if re.search(pat, k):
                        subs.append(sub)
                extra = s.get("additionalProperties")
                if isinstance(extra, Mapping):
                    subs.append(extra)
            if not subs:
                continue
            if _branch(v):
                child = value._child(k, v)
                for sub in subs:
                    _walk_schema(child, sub, root, depth + 1)
            elif _constrains(subs, v, root):
                value._fields.touch(child_path(value._path, k), "schema")
    elif isinstance(value, TrackedList):
        subs = [s["items"] for s in schemas if isinstance(s.get("items"), Mapping)]
        if not subs:
            return
        p = value._path + "[*]"
        # whether a scalar item is constrained depends on its JSON type alone, and its path is
        # the same for every item: decide once per type (an embedding has thousands of items)
        by_type: dict[str, bool] = {}
        for i, v in enumerate(list.__iter__(value)):
            if _branch(v):
                child = value._child(i, v)
                for sub in subs:
                    _walk_schema(child, sub, root, depth + 1)
                continue
            kind = _json_type(v)
            if kind not in by_type:
                by_type[kind] = _constrains(subs, v, root)
                if by_type[kind]:
                    value._fields.touch(p, "schema")


def _constrains(subs: list[Any], value: Any, root: Mapping[str, Any]) -> bool:
    for sub in subs:
        resolved = _resolve(sub, root)
        resolved += [b for br in _branches(resolved, value) for b in _resolve(br, root)]
        if any(SCHEMA_CONSTRAINTS & set(s) for s in resolved):
            return True
    return False

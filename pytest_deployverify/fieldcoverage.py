"""Response-field coverage: which fields of the target's JSON responses did anything check?

For every JSON response the ``api`` client and ``upload_document`` receive, the test's
:class:`FieldRecorder` notes each path it saw, per route template (``GET /jobs/{id}``, list
indices as ``[*]``), and what touched it:

``exact``   compared with the baseline with no rule at that place
``rule``    compared under a rule (tolerance, unordered, shape - learned noise is a shape rule)
``schema``  held by a JSON Schema to more than its type (const, enum, pattern, format, bounds)
``read``    read by code: the parsed body (``response.json()``) is tracked
            (:mod:`fieldcoverage_marks`): a key is marked when it is indexed or ``get``-ed
``used``    its value was sent back to the target in a later request's path (an ID)

A path nothing touched is *unchecked* unless a declaration (``[tool.deployverify.coverage]
ignore`` or ``field_coverage.ignore(...)``) says why it is ignored on purpose. Docs:
docs/field-coverage.md.

Data crosses xdist like the evidence: each test's recorder travels in
``report.user_properties`` (:data:`PROPERTY`) and the controller merges them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pytest_deployverify.baseline.paths import (
    DEEP,
    WILD,
    PatternError,
    PatternSegment,
    parse_pattern,
)
from pytest_deployverify.fieldcoverage_marks import RouteFields, child_path, install_tracking

PROPERTY = "deployverify-fields"
#: strongest first: a path is counted under the strongest kind that touched it
KINDS = ("exact", "rule", "schema", "read", "used")
#: list items looked at per list when noting the paths a response holds (the rest share them)
MAX_ITEMS = 64
#: items walked whatever their shape; later records with the first one's keys are skipped
FULL_ITEMS = 4
#: paths kept per route (a runaway document must not make the evidence unbounded)
MAX_PATHS = 2000
#: unchecked paths listed by name in the verdict file
MAX_LISTED = 200
#: (path, key tuple) -> the child paths of a dict with those keys there
_CHILD_PLANS: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
#: scalar types a list may hold for its first item to stand for all of them
_NUMBERS = frozenset({int, float, bool, type(None)})
_ID_SEGMENT = re.compile(r"/[0-9a-fA-F-]{16,}(?=/|$)|/\d+(?=/|$)")


_ROUTES: dict[tuple[str, str], str] = {}


def route_of(method: str, path: str) -> str:
    """``GET /api/v2/jobs/<uuid>?x=1`` -> ``GET /api/v2/jobs/{id}``.

    Cached: a test polls the same URL many times, and this runs for every response."""
    route = _ROUTES.get((method, path))
    if route is None:
        route = f"{method.upper()} {_ID_SEGMENT.sub('/{id}', path.split('?', 1)[0]) or '/'}"
        if len(_ROUTES) < 10_000:
            _ROUTES[(method, path)] = route
    return route


# ---------------------------------------------------------------- per-route data


class FieldRecorder:
    """One test's field coverage: the routes it received and what touched their paths."""

    def __init__(self, nodeid: str = "") -> None:
        self.nodeid = nodeid
        self.routes: dict[str, RouteFields] = {}
        #: (route pattern, path pattern, reason) declared by the test through the fixture
        self.declared: list[tuple[str, str, str]] = []
        #: string values seen (IDs are sent back) -> where they were seen
        self._ids: dict[str, list[tuple[RouteFields, str]]] = {}

    def route(self, route: str) -> RouteFields:
        data = self.routes.get(route)
        if data is None:
            data = self.routes[route] = RouteFields()
        return data

    # -------------------------------------------------------- the client's observer hooks

    def sending(self, method: str, url: str) -> str:
        """A request is about to go out: values from earlier responses in its path are
        ``used``. Returns the URL (a mutating observer may restore it)."""
        if self._ids:
            for segment in url.split("?", 1)[0].split("/"):
                for fields, path in self._ids.get(segment, ()):
                    fields.touch(path, "used")
        return url

    def received(self, method: str, path: str, response: Any) -> None:
        """A final response: note its JSON paths and make ``response.json()`` track reads."""
        data = parsed_json(response)
        if data is _NOT_JSON:
            return
        fields = self.route(route_of(method, path))
        if not fields.headers:  # a route's header names, from its first response
            fields.headers.update(response.headers.keys())
        self._note(fields, data, "$")
        install_tracking(response, data, fields)

    # The walk runs on every JSON body received, so it is written for speed: a dict's child
    # paths come from a cache keyed by its path and key tuple (a structure seen before costs
    # no path building), leaves are handled inline, and a long list costs C-level work only.

    def _note(self, fields: RouteFields, value: Any, path: str) -> None:
        t = type(value)
        if t is dict and value:
            self._note_dict(fields, value, path)
        elif t is list and value:
            self._note_list(fields, value, path)
        else:
            self._leaf(fields, value, path)

    def _note_dict(self, fields: RouteFields, value: dict[str, Any], path: str) -> None:
        keys = tuple(value)
        paths = _CHILD_PLANS.get((path, keys))
        if paths is None:
            paths = tuple(child_path(path, k) for k in keys)
            if len(_CHILD_PLANS) < 10_000:
                _CHILD_PLANS[(path, keys)] = paths
        seen = fields.seen
        for p, v in zip(paths, value.values(), strict=True):
            t = type(v)
            if t is dict and v:
                self._note_dict(fields, v, p)
            elif t is list and v:
                self._note_list(fields, v, p)
            else:
                if p not in seen and len(seen) < MAX_PATHS:
                    seen[p] = v
                if t is str and len(v) >= 8:
                    self._id(fields, p, v)

    def _note_list(self, fields: RouteFields, value: list[Any], path: str) -> None:
        item = path + "[*]"
        first = value[0]
        if type(first) is dict:
            for v in value[:FULL_ITEMS]:
                self._note(fields, v, item)
            rest = value[FULL_ITEMS:MAX_ITEMS]
            shape = first.keys()
            try:  # records shaped like the first hold no new paths: one C-level comparison
                alike = all(map(shape.__eq__, map(dict.keys, rest)))
            except TypeError:  # an item that is not a record
                alike = False
            if not alike:
                for v in rest:
                    if type(v) is not dict or v.keys() != shape:
                        self._note(fields, v, item)
            return
        items = value[:MAX_ITEMS]
        if _NUMBERS.issuperset(map(type, items)):  # a vector: one example says it all
            self._leaf(fields, first, item)
            return
        for v in items:
            self._note(fields, v, item)

    def _leaf(self, fields: RouteFields, value: Any, path: str) -> None:
        seen = fields.seen
        if path not in seen and len(seen) < MAX_PATHS:
            seen[path] = value
        if type(value) is str and len(value) >= 8:
            self._id(fields, path, value)

    def _id(self, fields: RouteFields, path: str, value: str) -> None:
        """Remember where a string that could be an ID was seen (it may be sent back)."""
        places = self._ids.get(value)
        if places is None:
            if len(self._ids) < 10_000:
                self._ids[value] = [(fields, path)]
        elif len(places) < 16 and (fields, path) not in places:
            places.append((fields, path))

    # -------------------------------------------------------- declarations

    def ignore(self, path: str, *, reason: str, route: str | None = None) -> None:
        """Declare ``path`` (on ``route``, default any) ignored on purpose, for ``reason``."""
        if not isinstance(reason, str) or not reason.strip():
            raise TypeError(
                f"field_coverage.ignore({path!r}): give a reason= saying why this field is "
                "not checked on purpose"
            )
        _checked_path(path, "field_coverage.ignore")
        self.declared.append((route or "*", path, reason.strip()))

    # -------------------------------------------------------- transport

    def to_json(self) -> str:
        return json.dumps(
            {
                "routes": {
                    r: {
                        "seen": d.seen,
                        "touched": {p: sorted(k) for p, k in d.touched.items()},
                        "headers": sorted(d.headers),
                    }
                    for r, d in self.routes.items()
                },
                "declared": self.declared,
            },
            default=str,
        )


class Observer(Protocol):
    """What :class:`~pytest_deployverify.client.ApiClient` tells about its traffic."""

    def sending(self, method: str, url: str) -> str: ...

    def received(self, method: str, path: str, response: Any) -> None: ...


_NOT_JSON = object()


def parsed_json(response: Any) -> Any:
    """The response's JSON body, or ``_NOT_JSON``."""
    ctype = response.headers.get("Content-Type") or ""
    if "json" not in ctype.lower() or not response.content:
        return _NOT_JSON
    try:
        return json.loads(response.content)
    except ValueError:
        return _NOT_JSON


# ---------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Declaration:
    """A path ignored on purpose: ``route`` (``*`` for any) and a path pattern, with why."""

    route: str
    path: str
    reason: str
    source: str  # "config" or the declaring test's node ID

    def matches(self, route: str, path: str) -> bool:
        if self.route != "*" and not _route_matches(self.route, route):
            return False
        if self.path.lower().startswith(HEADER) or path.lower().startswith(HEADER):
            return self.path.lower() == path.lower()
        return _path_matches(_pattern(self.path, self.source), _pattern(path, "path"))


#: a declaration path naming a response header (``header:content-type``): not mutated
HEADER = "header:"


def _checked_path(text: str, where: str) -> None:
    if not text.lower().startswith(HEADER):
        _pattern(text, where)


def _route_matches(pattern: str, route: str) -> bool:
    regex = "".join(".*" if c == "*" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, route) is not None


_PATTERNS: dict[str, tuple[PatternSegment, ...]] = {}


def _pattern(text: str, where: str) -> tuple[PatternSegment, ...]:
    cached = _PATTERNS.get(text)
    if cached is None:
        try:
            cached = parse_pattern(text.replace("{id}", "*"))
        except PatternError as exc:
            raise ValueError(f"{where}: field path {text!r} does not parse: {exc}") from None
        if len(_PATTERNS) < 10_000:
            _PATTERNS[text] = cached
    return cached


def _path_matches(pattern: Sequence[PatternSegment], path: Sequence[PatternSegment]) -> bool:
    if not pattern:
        return not path
    head = pattern[0]
    if head is DEEP:
        return any(_path_matches(pattern[1:], path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    seg = path[0]
    if head is WILD or head == seg or (seg is WILD and isinstance(head, int)):
        return _path_matches(pattern[1:], path[1:])
    return False


def config_declarations(tool: Mapping[str, Any], where: str) -> list[Declaration]:
    """``[tool.deployverify.coverage] ignore = {"GET /health $.uptime_s" = "reason"}``.

    A key is ``"<route> <path>"`` or just ``"<path>"`` (any route); ``{id}`` and ``*`` match
    any segment, ``**`` any depth. Raises ``ValueError`` naming the bad key.
    """
    table = tool.get("coverage") or {}
    if not isinstance(table, Mapping):
        raise ValueError(f"{where}: [tool.deployverify.coverage] must be a table")
    unknown = set(table) - {"ignore"}
    if unknown:
        raise ValueError(
            f"{where}: [tool.deployverify.coverage] has unknown key(s) {sorted(unknown)}; "
            'the only key is ignore = {"<route> <path>" = "reason"}'
        )
    ignore = table.get("ignore") or {}
    if not isinstance(ignore, Mapping):
        raise ValueError(
            f"{where}: [tool.deployverify.coverage] ignore must be a table of "
            '"<route> <path>" = "reason"'
        )
    out = []
    for key, reason in ignore.items():
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(
                f"{where}: [tool.deployverify.coverage] ignore {key!r} needs a reason string "
                "saying why this field is not checked"
            )
        route, _, path = str(key).rpartition(" ")
        _checked_path(path, f"{where}: [tool.deployverify.coverage] ignore {key!r}")
        out.append(Declaration(route.strip() or "*", path, reason.strip(), "config"))
    return out


# ---------------------------------------------------------------- the session's merge


@dataclass
class PathEntry:
    example: Any
    kinds: set[str] = field(default_factory=set)
    nodeids: set[str] = field(default_factory=set)
    #: the tests that touched it (a mutant of it runs these first: the likely killers)
    touched_by: set[str] = field(default_factory=set)


@dataclass
class FieldCoverage:
    """Every test's recorder merged (on the controller): route -> path -> entry."""

    routes: dict[str, dict[str, PathEntry]] = field(default_factory=dict)
    declarations: list[Declaration] = field(default_factory=list)
    #: route -> response header names seen
    headers: dict[str, set[str]] = field(default_factory=dict)

    def merge(self, nodeid: str, payload: str) -> None:
        data = json.loads(payload)
        for route, rdata in (data.get("routes") or {}).items():
            paths = self.routes.setdefault(route, {})
            self.headers.setdefault(route, set()).update(rdata.get("headers") or [])
            touched = rdata.get("touched") or {}
            for path, example in (rdata.get("seen") or {}).items():
                entry = paths.get(path)
                if entry is None:
                    entry = paths[path] = PathEntry(example)
                entry.nodeids.add(nodeid)
            for path, kinds in touched.items():
                entry = paths.get(path)
                if entry is not None:  # a container read or a key never received: not a field
                    entry.kinds.update(kinds)
                    entry.touched_by.add(nodeid)
        for route, path, reason in data.get("declared") or []:
            d = Declaration(route, path, reason, nodeid)
            if d not in self.declarations:
                self.declarations.append(d)

    def declared(self, route: str, path: str) -> Declaration | None:
        return next((d for d in self.declarations if d.matches(route, path)), None)

    def rows(self) -> list[tuple[str, str, PathEntry, str, Declaration | None]]:
        """(route, path, entry, strongest kind or "declared"/"unchecked", declaration)."""
        out = []
        for route in sorted(self.routes):
            for path in sorted(self.routes[route]):
                entry = self.routes[route][path]
                kind = next((k for k in KINDS if k in entry.kinds), None)
                decl = self.declared(route, path)
                out.append(
                    (route, path, entry, kind or ("declared" if decl else "unchecked"), decl)
                )
        return out

    def unchecked(self) -> list[tuple[str, str, PathEntry]]:
        return [(r, p, e) for r, p, e, k, _ in self.rows() if k == "unchecked"]

    def block(self, secrets: Sequence[str], enabled_fail: bool) -> dict[str, Any]:
        """The verdict file's ``coverage`` block (examples redacted)."""
        rows = self.rows()
        counts = {k: 0 for k in (*KINDS, "declared", "unchecked")}
        for *_, kind, _ in rows:
            counts[kind] += 1
        unchecked = [
            {
                "route": r,
                "path": p,
                "example": example_of(p, e.example, secrets),
                "tests": sorted(e.nodeids)[:3],
            }
            for r, p, e, k, _ in rows
            if k == "unchecked"
        ]
        declared = [
            {"route": r, "path": p, "reason": d.reason, "declared_by": d.source}
            for r, p, _, k, d in rows
            if k == "declared" and d is not None
        ]
        return {
            "routes": len(self.routes),
            "paths": len(rows),
            "counts": counts,
            "checked_fraction": round(
                (len(rows) - counts["unchecked"] - counts["declared"]) / len(rows), 4
            )
            if rows
            else None,
            "unchecked": unchecked[:MAX_LISTED],
            "unchecked_total": len(unchecked),
            "declared": declared[:MAX_LISTED],
            "fail_unchecked": enabled_fail,
        }


def example_of(path: str, value: Any, secrets: Sequence[str], limit: int = 80) -> Any:
    """A redacted, short example value for a report."""
    from pytest_deployverify.redact import REDACTED, is_secret_key, redact_text

    key = re.split(r"[.\[\]\"]+", path.rstrip(']"'))[-1] if path else ""
    if isinstance(value, str):
        if value and is_secret_key(key):
            return REDACTED
        text = redact_text(value, list(secrets))
        return text if len(text) <= limit else text[: limit - 3] + "..."
    if isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    return value

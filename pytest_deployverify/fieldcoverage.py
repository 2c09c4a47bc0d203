"""Response-field coverage: which fields of the target's JSON responses did anything check?

For every JSON response the ``api`` client and ``upload_document`` receive, the test's
:class:`FieldRecorder` notes each path it saw, per route template (``GET /jobs/{id}``, list
indices as ``[*]``), and what touched it:

``exact``   compared with the baseline with no rule at that place
``rule``    compared under a rule (tolerance, unordered, shape - learned noise is a shape rule)
``schema``  held by a JSON Schema to more than its type (const, enum, pattern, format, bounds)
``read``    read by code: the parsed body (``response.json()``) is a :class:`TrackedDict` /
            :class:`TrackedList` that marks a key when it is indexed or ``get``-ed
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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from pytest_deployverify.baseline.paths import (
    DEEP,
    WILD,
    PatternError,
    PatternSegment,
    format_path,
    parse_pattern,
)
from pytest_deployverify.baseline.shapes import _json_type

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
_ID_KEY = re.compile(r"^(?:[0-9a-fA-F-]{16,}|\d+)$")
_ID_SEGMENT = re.compile(r"/[0-9a-fA-F-]{16,}(?=/|$)|/\d+(?=/|$)")
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


def route_of(method: str, path: str) -> str:
    """``GET /api/v2/jobs/<uuid>?x=1`` -> ``GET /api/v2/jobs/{id}``."""
    return f"{method.upper()} {_ID_SEGMENT.sub('/{id}', path.split('?', 1)[0]) or '/'}"


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


# ---------------------------------------------------------------- per-route data


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
        self._note(fields, data, "$", 0)
        install_tracking(response, data, fields)

    def _note(self, fields: RouteFields, value: Any, path: str, depth: int) -> None:
        t = type(value)
        if t is dict and value:
            for k, v in value.items():
                self._note(fields, v, child_path(path, k), depth + 1)
            return
        if t is list and value:
            item = path + "[*]"
            first = value[0]
            shape = first.keys() if type(first) is dict else None
            for i, v in enumerate(value[:MAX_ITEMS]):
                # records shaped like the first few hold no new paths: skip their walk
                if i < FULL_ITEMS or shape is None or type(v) is not dict or v.keys() != shape:
                    self._note(fields, v, item, depth + 1)
            return
        seen = fields.seen
        if path not in seen and len(seen) < MAX_PATHS:
            seen[path] = value
        if t is str and len(value) >= 8:
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
    """Make ``response.json()`` return a tracked tree (the first call reuses ``data``)."""
    original = response.json
    first = [data]

    def tracked_json(**kwargs: Any) -> Any:
        if kwargs:
            return original(**kwargs)
        value = first.pop() if first else json.loads(response.content)
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
        for i, v in enumerate(list.__iter__(value)):
            if _branch(v):
                child = value._child(i, v)
                for sub in subs:
                    _walk_schema(child, sub, root, depth + 1)
            elif _constrains(subs, v, root):
                value._fields.touch(p, "schema")


def _constrains(subs: list[Any], value: Any, root: Mapping[str, Any]) -> bool:
    for sub in subs:
        resolved = _resolve(sub, root)
        resolved += [b for br in _branches(resolved, value) for b in _resolve(br, root)]
        if any(SCHEMA_CONSTRAINTS & set(s) for s in resolved):
            return True
    return False


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

"""JSON paths: how a difference names its place, and the glob patterns rules match against.

A path is a tuple of segments: ``str`` for an object key, ``int`` for a list index. It is shown
as ``$.chunks[3].chunk_id`` (keys that are not plain identifiers as ``$["content-type"]``).

A pattern is the same notation plus two wildcards: ``*`` (one key or index, also ``[*]``) and
``**`` (any number of segments, also written ``..``). ``$`` is optional: ``status`` means
``$.status``; ``**.created_at`` means ``created_at`` at any depth.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

Segment = str | int
Path = tuple[Segment, ...]


class _Wild:
    """One segment, any key or index."""

    def __repr__(self) -> str:
        return "*"


class _Deep:
    """Zero or more segments."""

    def __repr__(self) -> str:
        return "**"


WILD = _Wild()
DEEP = _Deep()
PatternSegment = str | int | _Wild | _Deep

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")


def format_path(path: Iterable[Segment | _Wild | _Deep]) -> str:
    """``("a", 0, "b c")`` -> ``$.a[0]["b c"]`` (wildcards as ``[*]`` and ``.**``)."""
    out = ["$"]
    for seg in path:
        if seg is WILD:
            out.append("[*]")
        elif seg is DEEP:
            out.append(".**")
        elif isinstance(seg, int):
            out.append(f"[{seg}]")
        elif isinstance(seg, str) and _IDENT.match(seg) and seg not in ("*", "**"):
            out.append(f".{seg}")
        else:
            out.append(f"[{json.dumps(seg)}]")
    return "".join(out)


class PatternError(ValueError):
    """A rule path that cannot be parsed."""


_TOKEN = re.compile(
    r"""
    (?P<deepdot>\.\.)                       # .. = any depth
  | \.(?P<name>\*\*|\*|[^.\[\]]+)           # .name .* .**
  | \[(?P<index>-?\d+)\]                    # [3]
  | \[(?P<wild>\*)\]                        # [*]
  | \[(?P<quoted>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\]   # ["key"]
""",
    re.VERBOSE,
)


@lru_cache(maxsize=4096)
def parse_pattern(text: str) -> tuple[PatternSegment, ...]:
    """Parse a rule path such as ``$.items[*].id`` or ``**.created_at`` into segments.

    Remembered (the result is immutable): every comparison parses its rules' paths, and the
    same few paths recur in every baseline file of a suite."""
    src = text.strip()
    if not src:
        raise PatternError("empty rule path; use '$' for the whole value")
    if src.startswith("$"):
        rest = src[1:]
    elif src.startswith("["):
        rest = src
    else:
        rest = "." + src
    segs: list[PatternSegment] = []
    pos = 0
    while pos < len(rest):
        m = _TOKEN.match(rest, pos)
        if not m:
            raise PatternError(
                f"cannot parse rule path {text!r} at {rest[pos:]!r}; write paths like "
                "'$.items[*].id', '**.created_at' or '$[\"content-type\"]'"
            )
        if m.group("deepdot"):
            segs.append(DEEP)
            # ``$..name``: the dot before the name was consumed as part of ``..``
            if pos + 2 < len(rest) and rest[pos + 2] not in ".[":
                name_match = re.match(r"[^.\[\]]+", rest[pos + 2 :])
                assert name_match is not None
                name = name_match.group(0)
                segs.append(WILD if name == "*" else name)
                pos = pos + 2 + len(name)
                continue
        elif m.group("name") is not None:
            name = m.group("name")
            segs.append(DEEP if name == "**" else WILD if name == "*" else name)
        elif m.group("index") is not None:
            segs.append(int(m.group("index")))
        elif m.group("wild"):
            segs.append(WILD)
        else:
            quoted = m.group("quoted")
            segs.append(json.loads(quoted) if quoted[0] == '"' else quoted[1:-1])
        pos = m.end()
    return tuple(segs)


def generalise(path: Path) -> tuple[PatternSegment, ...]:
    """Replace every list index with ``*``: a rule learned on one element holds for all."""
    return tuple(WILD if isinstance(s, int) else s for s in path)


@dataclass(frozen=True)
class Matcher:
    """Tracks which rule patterns can still match while a walk descends (a small NFA).

    A state is ``(pattern index, position)``. ``matched`` are the patterns whose every segment
    has been consumed at the current node; an empty state set means no rule applies anywhere
    below, so the comparison can take its fast path.
    """

    patterns: tuple[tuple[PatternSegment, ...], ...]

    def start(self) -> frozenset[tuple[int, int]]:
        return self._closure({(i, 0) for i in range(len(self.patterns))})

    def _closure(self, states: set[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        todo = list(states)
        while todo:
            i, p = todo.pop()
            pat = self.patterns[i]
            if p < len(pat) and pat[p] is DEEP and (i, p + 1) not in states:
                states.add((i, p + 1))
                todo.append((i, p + 1))
        return frozenset(states)

    def step(self, states: frozenset[tuple[int, int]], seg: Segment) -> frozenset[tuple[int, int]]:
        if not states:
            return states
        nxt: set[tuple[int, int]] = set()
        is_index = isinstance(seg, int)
        for i, p in states:
            pat = self.patterns[i]
            if p >= len(pat):
                continue
            want = pat[p]
            if want is DEEP:
                nxt.add((i, p))
            elif want is WILD or want == seg:
                nxt.add((i, p + 1))
            elif is_index and isinstance(want, int) and want < 0:
                continue  # negative indexes are not supported in matching
        return self._closure(nxt) if nxt else frozenset()

    def matched(self, states: frozenset[tuple[int, int]]) -> list[int]:
        return sorted(i for i, p in states if p == len(self.patterns[i]))

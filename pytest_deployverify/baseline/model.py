"""The baseline data model: rules, observations, files and differences.

Everything here round-trips through plain JSON (``to_dict``/``from_dict``) because it is what
the baseline file stores and what travels from xdist workers to the controller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Version of the baseline file format this plugin writes and reads.
SCHEMA_VERSION = 1

#: Rule kinds, in the order they take precedence when several match one path.
RULE_KINDS = ("ignore", "shape", "tolerance", "unordered")

#: Where a rule came from: learned from recordings, given on the check call, or configured in
#: ``[tool.deployverify.baseline]``.
RULE_SOURCES = ("learned", "call", "config")


class _Missing:
    """The value at a path that does not exist (distinct from JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<missing>"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@dataclass
class Rule:
    """How one path (a glob pattern, see ``paths.py``) is compared.

    - ``ignore``: anything goes, including absence.
    - ``shape``: the value must be present and satisfy ``schema`` (JSON Schema); ``optional``
      allows absence (learned when a key appeared in only some recordings).
    - ``tolerance``: numbers within ``max(abs, rel * |expected|)``; on a container, applies to
      every number below it.
    - ``unordered``: the list is compared as a multiset.
    """

    path: str
    kind: str
    schema: dict[str, Any] | None = None
    rel: float | None = None
    abs: float | None = None
    optional: bool = False
    source: str = "learned"

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise ValueError(f"rule kind must be one of {RULE_KINDS}, got {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "kind": self.kind, "source": self.source}
        if self.schema is not None:
            out["schema"] = self.schema
        if self.rel is not None:
            out["rel"] = self.rel
        if self.abs is not None:
            out["abs"] = self.abs
        if self.optional:
            out["optional"] = True
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        return cls(
            path=data["path"],
            kind=data["kind"],
            schema=data.get("schema"),
            rel=data.get("rel"),
            abs=data.get("abs"),
            optional=bool(data.get("optional", False)),
            source=data.get("source", "learned"),
        )

    def describe(self) -> str:
        """Short human form, e.g. ``tolerance rel=0.05`` or ``shape {"format": "uuid"}``."""
        if self.kind == "tolerance":
            parts = []
            if self.rel is not None:
                parts.append(f"rel={self.rel:g}")
            if self.abs is not None:
                parts.append(f"abs={self.abs:g}")
            return "tolerance " + " ".join(parts)
        if self.kind == "shape":
            import json

            return "shape " + json.dumps(self.schema, sort_keys=True)
        return self.kind


@dataclass
class Observation:
    """One named value a test stored: the value, its rules and its inferred JSON Schema."""

    name: str
    value: Any
    rules: list[Rule] = field(default_factory=list)
    schema: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "rules": [r.to_dict() for r in sorted(self.rules, key=_rule_sort_key)],
        }
        if self.schema is not None:
            out["schema"] = self.schema
        return out

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Observation:
        return cls(
            name=name,
            value=data.get("value"),
            rules=[Rule.from_dict(r) for r in data.get("rules", [])],
            schema=data.get("schema"),
        )


def _rule_sort_key(rule: Rule) -> tuple[str, str, str]:
    return (rule.path, rule.kind, rule.source)


@dataclass
class BaselineFile:
    """One test's baseline file: provenance header, observations and timing samples."""

    nodeid: str
    observations: dict[str, Observation] = field(default_factory=dict)
    timings: dict[str, list[float]] = field(default_factory=dict)
    plugin_version: str = ""
    recorded_from: str | None = None
    deployment_version: Any = None
    recorded_at: str | None = None
    record_runs: int = 1
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "plugin_version": self.plugin_version,
            "recorded_from": self.recorded_from,
            "deployment_version": self.deployment_version,
            "recorded_at": self.recorded_at,
            "record_runs": self.record_runs,
            "test": self.nodeid,
            "observations": {n: o.to_dict() for n, o in self.observations.items()},
            "timings": self.timings,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaselineFile:
        return cls(
            nodeid=data.get("test", ""),
            observations={
                n: Observation.from_dict(n, o) for n, o in data.get("observations", {}).items()
            },
            timings={k: [float(x) for x in v] for k, v in data.get("timings", {}).items()},
            plugin_version=data.get("plugin_version", ""),
            recorded_from=data.get("recorded_from"),
            deployment_version=data.get("deployment_version"),
            recorded_at=data.get("recorded_at"),
            record_runs=int(data.get("record_runs", 1)),
            schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
        )


#: Names of the rule each kind of difference broke, as they appear in messages and findings.
DIFF_RULES = (
    "stable value",
    "shape",
    "tolerance",
    "missing key",
    "extra key",
    "type",
    "list length",
    "missing item",
    "extra item",
    "unordered mismatch",
)


@dataclass
class Difference:
    """One place where the observation broke the baseline."""

    path: str
    expected: Any
    observed: Any
    rule: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "expected": self.expected,
            "observed": self.observed,
            "rule": self.rule,
            "detail": self.detail,
        }

"""User rules: from a ``check`` call's keyword arguments and from ``[tool.deployverify.baseline]``.

Both take the same four forms::

    ignore = ["$.request_id", "**.trace"]              # anything, even absent
    unordered = ["$.tags"]                              # compare as a multiset
    shape = {"$.job_id" = "uuid", "$.sha" = "hex:64"}   # alias or JSON Schema
    tolerance = {"$.score" = 0.05, "$.latency" = {abs = 5}}   # number: relative

On a call, ``tolerance`` may also be one number (relative, for every number in the value).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pytest_deployverify.baseline import shapes
from pytest_deployverify.baseline.model import Rule
from pytest_deployverify.baseline.paths import PatternError, parse_pattern


class RuleError(ValueError):
    """A user rule that cannot be used; the message says which and why."""


def build_rules(
    *,
    ignore: Iterable[str] | str | None = None,
    shape: Mapping[str, Any] | None = None,
    tolerance: Mapping[str, Any] | float | None = None,
    unordered: Iterable[str] | str | None = None,
    source: str = "call",
    where: str = "baseline.check",
) -> list[Rule]:
    """Rules from the four user forms; ``RuleError`` names the bad entry."""
    rules: list[Rule] = []
    for path in _paths(ignore, f"{where} ignore"):
        rules.append(Rule(path=path, kind="ignore", source=source))
    for path in _paths(unordered, f"{where} unordered"):
        rules.append(Rule(path=path, kind="unordered", source=source))
    if shape is not None:
        if not isinstance(shape, Mapping):
            raise RuleError(f"{where} shape must map paths to shapes, e.g. {{'$.id': 'uuid'}}")
        for path, spec in shape.items():
            _check_path(path, f"{where} shape")
            try:
                schema = shapes.shape_from_user(spec)
            except ValueError as exc:
                raise RuleError(f"{where} shape for {path!r}: {exc}") from None
            rules.append(Rule(path=path, kind="shape", schema=schema, source=source))
    if tolerance is not None:
        if isinstance(tolerance, int | float) and not isinstance(tolerance, bool):
            tolerance = {"$": tolerance}
        if not isinstance(tolerance, Mapping):
            raise RuleError(
                f"{where} tolerance must be a number or map paths to numbers or "
                "{'rel': r, 'abs': a}"
            )
        for path, spec in tolerance.items():
            _check_path(path, f"{where} tolerance")
            rules.append(_tolerance(path, spec, source, where))
    return rules


def _paths(value: Iterable[str] | str | None, where: str) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    for path in items:
        _check_path(path, where)
    return items


def _check_path(path: Any, where: str) -> None:
    if not isinstance(path, str):
        raise RuleError(f"{where}: rule path {path!r} must be a string like '$.items[*].id'")
    try:
        parse_pattern(path)
    except PatternError as exc:
        raise RuleError(f"{where}: {exc}") from None


def _tolerance(path: str, spec: Any, source: str, where: str) -> Rule:
    rel = abs_ = None
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        rel = float(spec)
    elif isinstance(spec, Mapping) and set(spec) <= {"rel", "abs"} and spec:
        rel = spec.get("rel")
        abs_ = spec.get("abs")
    else:
        raise RuleError(
            f"{where} tolerance for {path!r}: {spec!r} is not a number or {{'rel': r, 'abs': a}}"
        )
    for name, v in (("rel", rel), ("abs", abs_)):
        if v is not None and (not isinstance(v, int | float) or isinstance(v, bool) or v < 0):
            raise RuleError(f"{where} tolerance for {path!r}: {name} must be a number >= 0")
    return Rule(
        path=path,
        kind="tolerance",
        rel=None if rel is None else float(rel),
        abs=None if abs_ is None else float(abs_),
        source=source,
    )


# ---------------------------------------------------------------- pyproject


def config_rules(tool: Mapping[str, Any], source_name: str = "pyproject.toml") -> list[Rule]:
    """Rules from ``[tool.deployverify.baseline]``."""
    section = tool.get("baseline", {})
    if not isinstance(section, Mapping):
        raise RuleError(f"{source_name} [tool.deployverify.baseline] must be a table")
    unknown = set(section) - {"ignore", "shape", "tolerance", "unordered"}
    if unknown:
        raise RuleError(
            f"{source_name} [tool.deployverify.baseline]: unknown key(s) {sorted(unknown)}; "
            "use ignore, shape, tolerance, unordered"
        )
    return build_rules(
        ignore=section.get("ignore"),
        shape=section.get("shape"),
        tolerance=section.get("tolerance"),
        unordered=section.get("unordered"),
        source="config",
        where=f"{source_name} [tool.deployverify.baseline]",
    )

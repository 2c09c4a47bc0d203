"""Shapes as JSON Schema: inference from observed values and validation with jsonschema.

A volatile path keeps the shape its recorded values had (uuid, ISO-8601 date-time, hex digest
of a length, number in a widened range, string of a learned pattern) and every later value is
validated against it with the jsonschema library. The ``uuid`` and ``date-time`` formats are
registered on our own ``FormatChecker`` so they are always enforced: jsonschema silently skips
``date-time`` unless an optional package is installed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"
)
# RFC 3339 / ISO 8601 date-time with a time zone (Z or +hh:mm); fractions optional.
DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z")
HEX_RE = re.compile(r"[0-9a-fA-F]+\Z")

#: Names accepted wherever a shape is given (``shape={"$.id": "uuid"}``), as JSON Schema.
SHAPE_ALIASES: dict[str, dict[str, Any]] = {
    "uuid": {"type": "string", "format": "uuid"},
    "date-time": {"type": "string", "format": "date-time"},
    "datetime": {"type": "string", "format": "date-time"},
    "string": {"type": "string"},
    "non-empty": {"type": "string", "minLength": 1},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "object": {"type": "object"},
    "array": {"type": "array"},
    "any-non-null": {"not": {"type": "null"}},
}


def shape_from_user(spec: Any) -> dict[str, Any]:
    """A user-given shape (alias name, ``hex:64``, or a JSON Schema dict) as JSON Schema."""
    if isinstance(spec, dict):
        check_schema(spec)
        return spec
    if isinstance(spec, str):
        if spec in SHAPE_ALIASES:
            return dict(SHAPE_ALIASES[spec])
        m = re.fullmatch(r"hex(?::(\d+))?", spec)
        if m:
            n = m.group(1)
            return {"type": "string", "pattern": f"^[0-9a-f]{{{n}}}$" if n else "^[0-9a-f]+$"}
    raise ValueError(
        f"unknown shape {spec!r}: use one of {sorted(SHAPE_ALIASES)}, 'hex:<length>', "
        "or a JSON Schema dict"
    )


def is_uuid(value: str) -> bool:
    return bool(UUID_RE.match(value))


def is_datetime(value: str) -> bool:
    if not DATETIME_RE.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return True


@lru_cache(maxsize=1)
def format_checker() -> Any:
    """A jsonschema FormatChecker that always enforces ``uuid`` and ``date-time``."""
    from jsonschema import FormatChecker

    checker = FormatChecker()

    def _uuid(instance: object) -> bool:
        return not isinstance(instance, str) or is_uuid(instance)

    def _dt(instance: object) -> bool:
        return not isinstance(instance, str) or is_datetime(instance)

    checker.checks("uuid")(_uuid)
    checker.checks("date-time")(_dt)
    return checker


def check_schema(schema: dict[str, Any]) -> None:
    """Raise ValueError with a one-line reason when ``schema`` is not valid JSON Schema."""
    from jsonschema import exceptions, validators

    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except exceptions.SchemaError as exc:
        raise ValueError(f"invalid JSON Schema: {exc.message}") from None


def validator(schema: dict[str, Any]) -> Any:
    """A jsonschema validator for ``schema`` with our format checker (cached per schema)."""
    import json

    return _validator_cached(json.dumps(schema, sort_keys=True))


@lru_cache(maxsize=512)
def _validator_cached(schema_json: str) -> Any:
    import json

    from jsonschema import validators

    schema = json.loads(schema_json)
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    return _with_fast_items(cls)(schema, format_checker=format_checker())


#: Item schemas made of nothing but a ``type`` (and annotations) can be checked without
#: jsonschema's per-item descent: an embedding of 60 x 1536 numbers took 1.3 s of CPU that way.
_ANNOTATIONS = frozenset({"type", "description", "title", "$comment", "examples", "default"})
_EXACT_TYPES: dict[str, tuple[type, ...]] = {
    "number": (int, float),
    "integer": (int,),
    "string": (str,),
    "boolean": (bool,),
}


@lru_cache(maxsize=8)
def _with_fast_items(cls: Any) -> Any:
    """``cls`` whose ``items`` keyword first tries the scalar fast path (same outcome)."""
    from jsonschema import validators

    slow = cls.VALIDATORS["items"]

    def items(validator: Any, items: Any, instance: Any, schema: Any) -> Any:
        if _all_items_plainly_valid(items, instance, schema):
            return iter(())
        return slow(validator, items, instance, schema)

    return validators.extend(cls, validators={"items": items})


def _all_items_plainly_valid(items: Any, instance: Any, schema: Any) -> bool:
    """True only when every item certainly satisfies ``items`` (``{"type": <scalar>}``).

    Anything else, including a single item of another type, goes to jsonschema, which then
    produces the same errors it always did.
    """
    if type(instance) is not list or not isinstance(items, dict) or "prefixItems" in schema:
        return False
    if not items.keys() <= _ANNOTATIONS or not isinstance(items.get("type"), str):
        return False
    allowed = _EXACT_TYPES.get(items["type"])
    if allowed is None:
        return False
    return all(type(item) in allowed for item in instance)


def violations(schema: dict[str, Any], value: Any) -> list[tuple[str, str]]:
    """Every way ``value`` breaks ``schema``: ``[(json path, message)]``, sorted by path."""
    errs = []
    for err in validator(schema).iter_errors(value):
        errs.append((err.json_path, _short_message(err)))
    return sorted(errs)


def _short_message(err: Any) -> str:
    msg: str = err.message
    if len(msg) > 200:
        msg = msg[:197] + "..."
    return msg


# ---------------------------------------------------------------- inference


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def infer_shape(values: Sequence[Any]) -> dict[str, Any]:
    """The shape that every one of ``values`` (recordings of one volatile path) satisfies.

    Narrow enough to catch a broken value (null, wrong format, out of range), wide enough that
    the next fresh deployment's value passes.
    """
    present = [v for v in values if v is not None]
    allows_null = len(present) < len(values)
    if not present:
        return {"type": "null"}
    types = {_json_type(v) for v in present}
    if types <= {"integer", "number"}:
        schema = _number_shape(present, integer=types == {"integer"})
    elif types == {"string"}:
        schema = _string_shape(present)
    elif types == {"boolean"}:
        schema = {"type": "boolean"}
    elif types == {"array"}:
        # one item schema for the elements of every recording (lists of any length, at any
        # depth), not a schema whose items are the recordings themselves
        schema = merge_schemas([infer_schema(v) for v in present])
    elif types == {"object"}:
        schema = merge_schemas([infer_schema(v) for v in present])
    else:
        schema = {"type": sorted(types)}
    if allows_null:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def _number_shape(values: Sequence[float], *, integer: bool) -> dict[str, Any]:
    lo, hi = min(values), max(values)
    span = hi - lo
    # Widen by four times the larger of the span and the magnitude: a fresh deployment's
    # latency or count lands near, not on, what two recordings saw, while a sign flip, a
    # wrong type or an order-of-magnitude jump still fails.
    margin = 4 * max(span, abs(lo), abs(hi), 1.0 if integer else 0.0)
    low, high = lo - margin, hi + margin
    if lo >= 0:
        low = max(low, 0)
    if integer:
        low, high = math.floor(low), math.ceil(high)
    else:
        low, high = _round_sig(low, down=True), _round_sig(high, down=False)
    return {"type": "integer" if integer else "number", "minimum": low, "maximum": high}


def _round_sig(x: float, *, down: bool) -> float:
    if x == 0:
        return 0.0
    digits = 3 - math.floor(math.log10(abs(x)))
    factor = 10.0**digits
    return (math.floor(x * factor) if down else math.ceil(x * factor)) / factor


def _string_shape(values: Sequence[str]) -> dict[str, Any]:
    if all(is_uuid(v) for v in values):
        return {"type": "string", "format": "uuid"}
    if all(is_datetime(v) for v in values):
        return {"type": "string", "format": "date-time"}
    lengths = {len(v) for v in values}
    if len(lengths) == 1 and all(HEX_RE.match(v) for v in values) and min(lengths) >= 8:
        n = lengths.pop()
        if all(v == v.lower() for v in values):
            cls = "0-9a-f"
        elif all(v == v.upper() for v in values):
            cls = "0-9A-F"
        else:
            cls = "0-9a-fA-F"
        return {"type": "string", "pattern": f"^[{cls}]{{{n}}}$"}
    pattern = _learn_pattern(values)
    if pattern:
        return {"type": "string", "pattern": pattern}
    schema: dict[str, Any] = {"type": "string"}
    if all(values):
        schema["minLength"] = 1
    return schema


_TOKEN_RE = re.compile(r"[0-9]+|[a-z]+|[A-Z]+|[^0-9A-Za-z]")
_CLASSES = (
    ("[0-9]", re.compile(r"[0-9]+\Z")),
    ("[a-z]", re.compile(r"[a-z]+\Z")),
    ("[A-Z]", re.compile(r"[A-Z]+\Z")),
)


def _learn_pattern(values: Sequence[str]) -> str | None:
    """``job-0042`` and ``job-0913`` -> ``^job-[0-9]{4}$``; None when they share no skeleton.

    Tokens are runs of digits, of lower-case, of upper-case letters and single other
    characters. Tokens equal in every value stay literal; the others become their character
    class with the observed length range.
    """
    if len(set(values)) < 2:
        return None  # one value says nothing about which parts vary
    tokenised = [_TOKEN_RE.findall(v) for v in values]
    if len({len(t) for t in tokenised}) != 1 or not tokenised[0]:
        return None
    parts = ["^"]
    literal_chars = 0
    for column in zip(*tokenised, strict=True):
        if len(set(column)) == 1:
            parts.append(re.escape(column[0]))
            literal_chars += len(column[0])
            continue
        for cls, full in _CLASSES:
            if all(full.match(tok) for tok in column):
                lo, hi = min(map(len, column)), max(map(len, column))
                parts.append(f"{cls}{{{lo}}}" if lo == hi else f"{cls}{{{lo},{hi}}}")
                break
        else:
            return None  # a separator changed: not one skeleton
    if literal_chars == 0 and len(parts) > 2:
        return None  # no fixed part at all: too loose to be worth a pattern
    parts.append("$")
    return "".join(parts)


#: the JSON type of a value of exactly one of these types (what ``infer_schema`` gives it)
_SIMPLE: dict[type, str] = {int: "integer", float: "number", bool: "boolean", type(None): "null"}


def infer_schema(value: Any) -> dict[str, Any]:
    """A JSON Schema describing one value's structure (for the ``json_schema`` fixture).

    Objects require every recorded key and allow new ones (an API may add fields); arrays get
    one merged item schema; strings that are uuids or date-times get that format.
    """
    if isinstance(value, dict):
        return {
            "type": "object",
            # a number, boolean or null member without a call each (a small record's schema
            # is learned once per test when recording)
            "properties": {
                k: {"type": simple} if (simple := _SIMPLE.get(type(v))) else infer_schema(v)
                for k, v in value.items()
            },
            "required": sorted(value),
        }
    if isinstance(value, list):
        schema: dict[str, Any] = {"type": "array"}
        items = merge_schemas([infer_schema(v) for v in value[:200]])
        if items:
            schema["items"] = items
        return schema
    if isinstance(value, str):
        if is_uuid(value):
            return {"type": "string", "format": "uuid"}
        if is_datetime(value):
            return {"type": "string", "format": "date-time"}
        return {"type": "string"}
    if isinstance(value, bool) or value is None:
        return {"type": _json_type(value)}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    return {}


def merge_schemas(schemas: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One schema every input satisfies (used for list items and repeated recordings)."""
    if not schemas:
        return {}
    first = schemas[0]
    if all(s == first for s in schemas):
        return first
    types = {s.get("type") for s in schemas}
    if types == {"object"}:
        keys = sorted({k for s in schemas for k in s.get("properties", {})})
        props = {
            k: merge_schemas([s["properties"][k] for s in schemas if k in s.get("properties", {})])
            for k in keys
        }
        required = sorted(set.intersection(*(set(s.get("required", [])) for s in schemas)))
        return {"type": "object", "properties": props, "required": required}
    if types == {"array"}:
        items = merge_schemas([s["items"] for s in schemas if "items" in s])
        return {"type": "array", "items": items} if items else {"type": "array"}
    if types <= {"integer", "number"}:
        return {"type": "number"}
    if types == {"string"}:
        formats = {s.get("format") for s in schemas}
        return (
            {"type": "string", "format": formats.pop()}
            if len(formats) == 1 and None not in formats
            else {"type": "string"}
        )
    simple = sorted(t for t in types if isinstance(t, str))
    if len(simple) == len(types):
        return {"type": simple}
    return {}

"""Baseline files on disk: where each test's file lives, atomic writes, validated loads.

One JSON file per test: ``<baseline dir>/<module path without .py>/<Class.test[params]>.json``.
Written with sorted keys, indent 2 and a trailing newline so a diff reviews well; written to a
temporary file in the same directory, fsynced, then ``os.replace``d, so a crash or Ctrl-C
leaves the old file or the new one, never half of one. Loaded files are checked against
``schemas/baseline.schema.json``; every problem is a ``BaselineFileError`` naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from pytest_deployverify.atomic import TMP_PREFIX
from pytest_deployverify.baseline.model import SCHEMA_VERSION, BaselineFile

#: Longest file-name stem kept verbatim; longer names are cut and end in a hash.
MAX_STEM = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-\[\]]")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {
    f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)
}


class BaselineFileError(Exception):
    """A baseline file that cannot be used: unreadable, not JSON, wrong shape, future schema."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"baseline file {self.path}: {problem}")


# ---------------------------------------------------------------- paths


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def safe_component(raw: str) -> str:
    """A path component safe on Linux, macOS and Windows; a hash keeps distinct names distinct.

    Unsafe characters become ``_``; when that changed anything, or the name has upper-case
    letters inside ``[...]`` (parametrize ids differing only by case collide on
    case-insensitive file systems), a short hash of the raw name is appended.
    """
    safe = _UNSAFE.sub("_", raw).strip(". ") or "_"
    bracket = raw.find("[")
    needs_hash = safe != raw or (bracket >= 0 and raw[bracket:] != raw[bracket:].lower())
    if safe.split(".", 1)[0].lower() in _WINDOWS_RESERVED:
        safe = "_" + safe
        needs_hash = True
    if len(safe) > MAX_STEM:
        safe = safe[: MAX_STEM - 12].rstrip(". ")
        needs_hash = True
    if needs_hash:
        safe = f"{safe}-{_short_hash(raw)}"
    return safe


def relative_file(nodeid: str) -> Path:
    """The baseline file of a test, relative to the baseline directory.

    ``tests/smoke/test_upload.py::TestUpload::test_pdf[small]`` ->
    ``tests/smoke/test_upload/TestUpload.test_pdf[small].json``.
    """
    return Path(relative_name(nodeid))


def relative_name(nodeid: str) -> str:
    """``relative_file`` as a POSIX string."""
    module, sep, rest = nodeid.partition("::")
    name = rest.replace("::", ".") if sep else "module"
    return _module_prefix(module) + safe_component(name) + ".json"


@lru_cache(maxsize=10_000)
def _module_prefix(module: str) -> str:
    """A test module's baseline directory as a POSIX prefix ("" or ending in "/"), worked
    out once per module."""
    stem = module[:-3] if module.endswith(".py") else module
    return "".join(
        safe_component(seg if seg != ".." else "__") + "/"
        for seg in stem.split("/")
        if seg and seg != "."
    )


def module_dir(module_path: str) -> Path:
    """The directory (relative to the baseline dir) holding a test module's baseline files."""
    return relative_file(f"{module_path}::x").parent


# ---------------------------------------------------------------- writing


def dumps(data: dict[str, Any]) -> str:
    """The canonical file text: sorted keys, indent 2, UTF-8 as is, trailing newline.

    The same text as ``json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False,
    allow_nan=False)`` (with an ``indent``, json runs its pure-Python encoder: most of the cost
    of recording a small check); data it does not know (a non-string key, an unknown type,
    a float that is not finite) is left to json itself, for the same text or error.
    """
    parts: list[str] = []
    try:
        _encode(data, "\n", parts)
    except _NotPlain:
        return (
            json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        )
    parts.append("\n")
    return "".join(parts)


class _NotPlain(Exception):
    """A value :func:`_encode` leaves to json (see :func:`dumps`)."""


_quote = json.encoder.encode_basestring  # json's own string encoder (C), ensure_ascii=False
_FINITE = (-math.inf, math.inf)


def _encode(value: Any, newline: str, parts: list[str]) -> None:
    """Append ``value`` as ``json.dumps(..., indent=2, sort_keys=True)`` writes it, at the
    indentation ``newline`` carries."""
    cls = type(value)
    if cls is str:
        parts.append(_quote(value))
    elif cls is dict or cls is list:
        opening, closing = ("{", "}") if cls is dict else ("[", "]")
        if not value:
            parts.append(opening + closing)
            return
        if cls is dict:
            if any(type(key) is not str for key in value):
                raise _NotPlain
            items = [(_quote(key) + ": ", value[key]) for key in sorted(value)]
        else:
            items = [("", item) for item in value]
        inner, separator = newline + "  ", opening
        for prefix, item in items:
            parts.append(separator + inner + prefix)
            separator = ","
            _encode(item, inner, parts)
        parts.append(newline + closing)
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif cls is int:
        parts.append(int.__repr__(value))
    elif cls is float and value == value and value not in _FINITE:
        parts.append(float.__repr__(value))
    else:  # a tuple, a subclass, NaN or infinity, an unknown type: json decides
        raise _NotPlain


def remove_stale_temporaries(root: Path) -> list[Path]:
    """Delete temporary files a killed recording left behind (they are never read)."""
    removed = []
    if root.is_dir():
        for tmp in root.rglob(f"{TMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


# ---------------------------------------------------------------- reading


@lru_cache(maxsize=1)
def file_schema() -> dict[str, Any]:
    schema_path = Path(__file__).resolve().parent.parent / "schemas" / "baseline.schema.json"
    schema: dict[str, Any] = json.loads(schema_path.read_text(encoding="utf-8"))
    return schema


def parse(path: Path | str, text: str) -> BaselineFile:
    """A baseline file's content, validated; ``BaselineFileError`` says what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineFileError(
            path,
            f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "fix the edit or re-record it with --record-baseline",
        ) from None
    if not isinstance(data, dict):
        raise BaselineFileError(path, f"expected a JSON object, found {type(data).__name__}")
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise BaselineFileError(
            path,
            f"written with baseline schema version {version}, but this pytest-deployverify "
            f"reads version {SCHEMA_VERSION}; upgrade pytest-deployverify or re-record the "
            "baseline with this version",
        )
    _validate(path, data)
    baseline = BaselineFile.from_dict(data)
    _check_rules(path, baseline)
    return baseline


def _validate(path: Path | str, data: dict[str, Any]) -> None:
    from pytest_deployverify.baseline import shapes

    if _conforms(data):
        return
    # Only a file the cheap check doubts pays for jsonschema: it names every problem (or,
    # when the cheap check was merely stricter than the schema, finds none).
    problems = shapes.violations(file_schema(), data)
    if problems:
        listed = "; ".join(f"{where}: {msg}" for where, msg in problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        raise BaselineFileError(
            path,
            f"does not match the baseline file schema: {listed}{more}; fix the edit or re-record",
        )


_TOP_REQUIRED = frozenset(
    (
        "schema_version",
        "plugin_version",
        "recorded_from",
        "recorded_at",
        "record_runs",
        "test",
        "observations",
        "timings",
    )
)
_TOP_KEYS = _TOP_REQUIRED | {"deployment_version"}
_OBSERVATION_KEYS = frozenset(("value", "rules", "schema"))
_RULE_KEYS = frozenset(("path", "kind", "source", "schema", "rel", "abs", "optional"))
_RULE_KINDS = frozenset(("ignore", "shape", "tolerance", "unordered"))
_RULE_SOURCES = frozenset(("learned", "call", "config"))


def _number(value: object) -> bool:
    return type(value) in (int, float) and value >= 0  # type: ignore[operator]


def _conforms(data: dict[str, Any]) -> bool:
    """True only when ``data`` certainly matches schemas/baseline.schema.json.

    A hand-written, stricter reading of that schema: jsonschema on every load was most of
    the cost of a small check (issue 20). False is no verdict: the caller then validates with
    jsonschema. tests/plugin/test_baseline_json_schema.py checks that it never accepts what
    the schema rejects.
    """
    from pytest_deployverify.baseline.shapes import is_datetime

    keys = data.keys()
    if not (_TOP_REQUIRED <= keys <= _TOP_KEYS):
        return False
    recorded_at, test = data["recorded_at"], data["test"]
    if not (
        type(data["schema_version"]) is int
        and data["schema_version"] == 1
        and type(data["plugin_version"]) is str
        and (data["recorded_from"] is None or type(data["recorded_from"]) is str)
        and (recorded_at is None or (type(recorded_at) is str and is_datetime(recorded_at)))
        and type(data["record_runs"]) is int
        and data["record_runs"] >= 1
        and type(test) is str
        and test
    ):
        return False
    timings, observations = data["timings"], data["observations"]
    if type(timings) is not dict or type(observations) is not dict:
        return False
    for samples in timings.values():
        if type(samples) is not list or not all(_number(v) for v in samples):
            return False
    for obs in observations.values():
        if type(obs) is not dict or not ({"value", "rules"} <= obs.keys() <= _OBSERVATION_KEYS):
            return False
        if "schema" in obs and type(obs["schema"]) not in (dict, bool):
            return False
        rules = obs["rules"]
        if type(rules) is not list or not all(_rule_conforms(r) for r in rules):
            return False
    return True


def _rule_conforms(rule: object) -> bool:
    if type(rule) is not dict or not ({"path", "kind"} <= rule.keys() <= _RULE_KEYS):
        return False
    path, kind = rule["path"], rule["kind"]
    return (
        type(path) is str
        and bool(path)
        and type(kind) is str
        and kind in _RULE_KINDS
        and (kind != "shape" or "schema" in rule)
        and (kind != "tolerance" or "rel" in rule or "abs" in rule)
        and (
            "source" not in rule
            or (type(rule["source"]) is str and rule["source"] in _RULE_SOURCES)
        )
        and ("schema" not in rule or type(rule["schema"]) in (dict, bool))
        and ("rel" not in rule or _number(rule["rel"]))
        and ("abs" not in rule or _number(rule["abs"]))
        and ("optional" not in rule or type(rule["optional"]) is bool)
    )


def _check_rules(path: Path | str, baseline: BaselineFile) -> None:
    from pytest_deployverify.baseline import shapes
    from pytest_deployverify.baseline.paths import PatternError, parse_pattern

    for name, obs in baseline.observations.items():
        for rule in obs.rules:
            try:
                parse_pattern(rule.path)
                if rule.kind == "shape":
                    shapes.check_schema(rule.schema or {})
            except (PatternError, ValueError) as exc:
                raise BaselineFileError(
                    path, f"observation {name!r}, rule for {rule.path!r}: {exc}"
                ) from None


def parse_bytes(path: Path | str, raw: bytes) -> BaselineFile:
    """``parse`` of a file's bytes (``BaselineFileError`` when they are not UTF-8)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BaselineFileError(path, f"cannot be read ({exc})") from None
    return parse(path, text)


def checksum(digests: Iterable[tuple[str, bytes]]) -> str:
    """The baseline set's checksum: sha256 over each file's relative POSIX path and the
    sha256 of its bytes (``digests``: those pairs, in path order), each followed by a NUL."""
    total = hashlib.sha256()
    for rel, digest in digests:
        total.update(rel.encode("utf-8") + b"\0" + digest + b"\0")
    return total.hexdigest()

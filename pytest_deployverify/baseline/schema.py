"""The object the ``json_schema`` fixture returns: validate a response against a JSON Schema.

::

    json_schema.validate(response, schema="fixtures/schemas/upload.json")
    json_schema.validate(response, name="upload")   # the schema inferred at record time

A schema path is relative to the rootdir (then to the test's directory). With ``name`` and no
``schema``, the schema stored with that observation in this test's baseline file is used. The
jsonschema library validates, with ``uuid`` and ``date-time`` formats enforced. Every violation
is listed with its JSON path; the test's evidence gets one ``Finding`` per violation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_deployverify.baseline import shapes
from pytest_deployverify.baseline.compare import summarise
from pytest_deployverify.baseline.normalise import normalise
from pytest_deployverify.baseline.redaction import redact_observation
from pytest_deployverify.baseline.session import BaselineSession
from pytest_deployverify.baseline.storage import BaselineFileError
from pytest_deployverify.evidence import EVIDENCE_KEY, Finding
from pytest_deployverify.fieldcoverage_marks import note_schema, quiet

MAX_LISTED = 50


class SchemaViolation(AssertionError):
    """A value that breaks its JSON Schema; the message lists each violation by path."""


class JsonSchema:
    """Validates values against schema files or schemas inferred at record time."""

    def __init__(self, session: BaselineSession, item: pytest.Item) -> None:
        self._session = session
        self._item = item

    def validate(
        self,
        value: Any,
        schema: str | Path | Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        headers: Iterable[str] | None = None,
    ) -> None:
        """Validate ``value`` (data or a response: its JSON body) and raise on any violation.

        ``schema``: a file path or a schema dict; else ``name``: the observation whose
        recorded schema applies (a response's schema covers ``status``/``headers``/``body``).
        """
        __tracebackhide__ = True  # its arguments (the raw value) could hold a secret
        with quiet():  # normalising is not reading: note_schema says what was constrained
            observed = normalise(value, headers=headers)
        if schema is None and name is None:
            raise TypeError("json_schema.validate(value, schema=... or name=...): give one of them")
        if schema is not None:
            schema_dict, label = self._load_schema(schema)
            if _is_response(value):
                observed = observed["body"]
        else:
            assert name is not None
            if self._session.record_mode:
                return  # the schema is being recorded with the observation right now
            schema_dict, label = self._recorded_schema(name)
        observed = redact_observation(observed, self._session.secrets())
        problems = shapes.violations(schema_dict, observed)
        if _is_response(value) and not _served_as_json(value):
            ctype = value.headers.get("Content-Type")
            problems.insert(0, ("$", f"the body is served as Content-Type {ctype!r}, not as JSON"))
        body_schema: Any = schema_dict
        if schema is None and _is_response(value):  # a recorded schema covers status/headers/body
            body_schema = (schema_dict.get("properties") or {}).get("body") or {}
        note_schema(value, body_schema, root=schema_dict)
        check = f"schema:{label}"
        if not problems:
            self._finding(
                Finding(
                    check=check,
                    outcome="pass",
                    rule=f"matches {label}",
                    path="$",
                    observed=summarise(observed),
                    message=f"valid against {label}",
                )
            )
            return
        for where, msg in problems[:MAX_LISTED]:
            self._finding(
                Finding(
                    check=check,
                    outcome="fail",
                    rule="json schema",
                    path=where,
                    observed=None,
                    message=f"{where}: {msg}",
                )
            )
        lines = [
            f"{len(problems)} JSON Schema violation{'s' if len(problems) != 1 else ''} "
            f"against {label}:"
        ]
        lines += [f"  {where}: {msg}" for where, msg in problems[:MAX_LISTED]]
        if len(problems) > MAX_LISTED:
            lines.append(f"  ... and {len(problems) - MAX_LISTED} more")
        raise SchemaViolation("\n".join(lines))

    def _load_schema(self, schema: str | Path | Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        if isinstance(schema, Mapping):
            data, label = dict(schema), "the given schema"
        else:
            path = Path(schema)
            candidates = (
                [path]
                if path.is_absolute()
                else [self._session.rootpath / path, Path(str(self._item.path)).parent / path]
            )
            found = next((p for p in candidates if p.is_file()), None)
            if found is None:
                raise FileNotFoundError(
                    f"JSON Schema file {schema} not found (looked in "
                    f"{', '.join(str(c) for c in candidates)})"
                )
            try:
                data = json.loads(found.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(
                    f"JSON Schema file {found}: cannot be read as JSON ({exc})"
                ) from None
            label = self._session.display(found)
        try:
            shapes.check_schema(data)
        except ValueError as exc:
            raise ValueError(f"{label}: {exc}") from None
        return data, label

    def _recorded_schema(self, name: str) -> tuple[dict[str, Any], str]:
        rel = self._session.rel_for(self._item.nodeid)
        shown = self._session.shown(rel)
        try:
            stored = self._session.load(rel)
        except BaselineFileError as exc:
            raise SchemaViolation(f"json_schema {name!r}: {exc}") from None
        obs = stored.observations.get(name) if stored else None
        if obs is None or obs.schema is None:
            raise SchemaViolation(
                f"json_schema {name!r}: no recorded schema for observation {name!r} in {shown}; "
                f"record it with: {self._session.record_command(self._item.nodeid)}"
            )
        return obs.schema, f"{shown}::{name}"

    def _finding(self, finding: Finding) -> None:
        evidence = self._item.stash.get(EVIDENCE_KEY, None)
        if evidence is None:
            return
        finding.kind = "schema"
        finding.nodeid = self._item.nodeid
        finding.correlation_ids = list(evidence.correlation_ids)
        evidence.findings.append(finding)


def _served_as_json(response: Any) -> bool:
    """``application/json`` or a ``+json`` type: what a client may parse as JSON."""
    ctype = str(response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    return ctype == "application/json" or ctype.endswith("+json")


def _is_response(value: Any) -> bool:
    return hasattr(value, "status_code") and callable(getattr(value, "json", None))

"""The smoke suite's JSON Schemas (fixtures/schemas/) accept the documented contract and reject
drift, naming the path: each schema has an example from docs/architecture.md that must pass and
drifted variants (a field renamed, retyped or nulled) that must fail at the right path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

SCHEMAS = Path(__file__).resolve().parents[2] / "fixtures" / "schemas"
UUID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
TS = "2026-11-28T12:00:00.123456Z"
HEX = "ab" * 32

EXAMPLES: dict[str, dict[str, Any]] = {
    "upload": {
        "document_id": UUID,
        "job_id": UUID,
        "status": "uploaded",
        "correlation_id": "c-1",
        "duplicate": False,
    },
    "job": {
        "job_id": UUID,
        "document_id": UUID,
        "status": "chunking",
        "retry_count": 0,
        "progress": {"chunks_total": 3, "chunks_done": 1, "embeddings_done": 0},
        "last_error": None,
        "correlation_id": "c-1",
        "created_at": TS,
        "updated_at": TS,
    },
    "events": {
        "job_id": UUID,
        "events": [{"seq": 1, "status": "uploaded", "at": TS, "correlation_id": "c", "detail": {}}],
    },
    "document": {
        "document_id": UUID,
        "filename": "small.pdf",
        "sha256": HEX,
        "bytes": 2079,
        "status": "complete",
        "parsed_text_sha256": HEX,
        "parser": {"name": "llamaparse-standin", "version": "2025-08-01"},
        "chunker": {"name": "markdown-simple", "version": "1"},
        "chunk_count": 1,
        "chunks": [{"chunk_id": UUID, "ordinal": 0, "sha256": HEX}],
        "embedding": {"model": "text-embedding-3-small", "dimensions": 1536},
        "vector_count": 1,
        "vectors": [{"chunk_id": UUID, "sha256": HEX}],
        "created_at": TS,
    },
    "error": {"error": {"code": "not_pdf", "message": "not a PDF", "correlation_id": "c-1"}},
    "health": {
        "status": "healthy",
        "checked_at": TS,
        "dependencies": {
            "database": {"status": "up", "latency_ms": 1.2},
            "worker": {"status": "up", "heartbeat_age_s": 0.3, "workers": 1},
            "queue": {"status": "up", "depth": 0},
            "parser": {"status": "up", "url": "http://127.0.0.1:1"},
            "embeddings": {"status": "up", "url": "http://127.0.0.1:2"},
        },
    },
    "version": {
        "service": "docservice",
        "version": "1.0.0",
        "git_revision": "abc",
        "schema_version": 2,
        "config_fingerprint": {
            "chunker": "markdown-simple@1",
            "embedding_model": "text-embedding-3-small",
            "embedding_dimensions": 1536,
            "parser": "llamaparse-standin",
        },
        "fingerprint_sha256": HEX,
    },
    "webhook": {"accepted": True, "applied": False},
}

#: schema -> (dotted path to change, new value or "<delete>", expected error path)
DRIFT = [
    ("upload", "status", None, "$.status"),
    ("upload", "job_id", "<delete>", "$"),
    ("job", "status", "processing", "$.status"),
    ("job", "updated_at", "2026-11-28 12:00:00", "$.updated_at"),
    ("job", "progress.chunks_done", "1", "$.progress.chunks_done"),
    ("events", "events.0.seq", 0, "$.events[0].seq"),
    ("document", "vectors.0.sha256", "not-hex", "$.vectors[0].sha256"),
    ("document", "chunk_count", None, "$.chunk_count"),
    ("document", "embedding.dimensions", "1536", "$.embedding.dimensions"),
    ("document", "parser.name", "", "$.parser.name"),
    ("job", "last_error", {"message": "no code"}, "$.last_error"),
    ("error", "error.code", "Not PDF", "$.error.code"),
    ("error", "detail", "flat error", "$"),
    ("health", "dependencies.worker.status", "ok", "$.dependencies.worker.status"),
    (
        "version",
        "config_fingerprint.embedding_dimensions",
        None,
        "$.config_fingerprint.embedding_dimensions",
    ),
    ("webhook", "accepted", False, "$.accepted"),
]


def _violations(schema: dict, value: Any) -> list[tuple[str, str]]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    out = []
    for err in validator.iter_errors(value):
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.path)
        out.append((path, err.message))
    return out


def _load(name: str) -> dict:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_schema_accepts_the_contract_example(name):
    assert _violations(_load(name), EXAMPLES[name]) == []


def test_nullable_parts_accept_null():
    """A document not yet parsed has no parser, chunker or embedding: null, not drift."""
    doc = {**EXAMPLES["document"], "parser": None, "chunker": None, "embedding": None}
    doc["parsed_text_sha256"] = None
    assert _violations(_load("document"), doc) == []


def test_every_schema_has_an_example():
    shipped = {p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json")}
    assert shipped == set(EXAMPLES)


@pytest.mark.parametrize(("name", "where", "value", "path"), DRIFT)
def test_schema_rejects_drift_at_its_path(name, where, value, path):
    doc = copy.deepcopy(EXAMPLES[name])
    parts = where.split(".")
    parent = doc
    for part in parts[:-1]:
        parent = parent[int(part)] if part.isdigit() else parent[part]
    if value == "<delete>":
        del parent[parts[-1]]
    else:
        parent[parts[-1]] = value
    problems = _violations(_load(name), doc)
    assert problems, f"{name}: drift at {where} -> {value!r} was accepted"
    assert any(p == path for p, _ in problems), problems

"""Rows the API and the worker both read or write: events and the JSON views of jobs/documents."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

from docservice.db import Tx
from docservice.faults import Faults


def add_event(
    tx: Tx,
    job_id: str,
    status: str,
    at: str,
    correlation_id: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one transition to the job's event trail (call inside the transition's tx)."""
    seq = int(
        tx.scalar("SELECT COALESCE(MAX(seq), 0) AS s FROM job_events WHERE job_id = ?", (job_id,))
    )
    tx.execute(
        "INSERT INTO job_events (job_id, seq, status, at, correlation_id, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (job_id, seq + 1, status, at, correlation_id, json.dumps(detail or {}, sort_keys=True)),
    )


def served_status(status: str | None, faults: Faults) -> str | None:
    """The status as served: null under the empty_status fault."""
    return None if "empty_status" in faults else status


def job_view(job: dict[str, Any], faults: Faults) -> dict[str, Any]:
    """GET /api/v2/jobs/{job_id} body."""
    last_error = json.loads(job["last_error"]) if job["last_error"] else None
    if last_error:
        last_error = {k: last_error.get(k) for k in ("code", "message", "at")}
    return {
        "job_id": job["job_id"],
        "document_id": job["document_id"],
        "status": served_status(job["status"], faults),
        "retry_count": job["retry_count"],
        "progress": {
            "chunks_total": job["chunks_total"],
            "chunks_done": job["chunks_done"],
            "embeddings_done": job["embeddings_done"],
        },
        "last_error": last_error,
        "correlation_id": job["correlation_id"],
        "created_at": job["created_at"],
        "updated_at": job["updated_at"],
    }


def events_view(tx: Tx, job_id: str) -> list[dict[str, Any]]:
    """The job's event trail in order."""
    rows = tx.all(
        "SELECT seq, status, at, correlation_id, detail FROM job_events WHERE job_id = ? ORDER BY seq",
        (job_id,),
    )
    return [{**r, "detail": json.loads(r["detail"] or "{}")} for r in rows]


#: What ``GET /api/v2/documents/{id}?include=...`` can add to the document.
INCLUDES = ("vectors", "text")
#: The ``include`` values the API accepts: names from INCLUDES joined by commas. The OpenAPI
#: states the same pattern, so what it calls valid is exactly what the API serves.
INCLUDE_PATTERN = "^({0})(,({0}))*$".format("|".join(INCLUDES))


def document_view(
    tx: Tx, doc: dict[str, Any], faults: Faults, include: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """GET /api/v2/documents/{document_id} body.

    ``include``: "vectors" adds each vector's components (``embedding``, the stored float32
    values) so a client can compare embeddings by meaning; "text" adds the normalised
    ``parsed_text`` the chunks were cut from.
    """
    job = tx.one(
        "SELECT status FROM jobs WHERE document_id = ? ORDER BY created_at DESC",
        (doc["document_id"],),
    )
    chunks = tx.all(
        "SELECT chunk_id, ordinal, sha256 FROM chunks WHERE document_id = ? ORDER BY ordinal",
        (doc["document_id"],),
    )
    vectors = tx.all(
        "SELECT v.chunk_id, v.sha256, v.model, v.dimensions, v.vector FROM vectors v "
        "LEFT JOIN chunks c ON c.chunk_id = v.chunk_id WHERE v.document_id = ? "
        "ORDER BY c.ordinal, v.chunk_id",
        (doc["document_id"],),
    )
    model = vectors[0]["model"] if vectors else doc["embedding_model"]
    dims = vectors[0]["dimensions"] if vectors else doc["embedding_dimensions"]
    return {
        "document_id": doc["document_id"],
        "filename": doc["filename"],
        "sha256": doc["sha256"],
        "bytes": doc["bytes"],
        "status": served_status(job["status"] if job else None, faults),
        "parsed_text_sha256": doc["parsed_text_sha256"],
        "parser": {"name": doc["parser_name"], "version": doc["parser_version"]}
        if doc["parser_name"]
        else None,
        "chunker": {"name": doc["chunker_name"], "version": str(doc["chunker_version"])}
        if doc["chunker_name"]
        else None,
        "chunk_count": len(chunks),
        "chunks": chunks,
        "embedding": {"model": model, "dimensions": dims} if model else None,
        "vector_count": len(vectors),
        "vectors": [
            {"chunk_id": v["chunk_id"], "sha256": v["sha256"]}
            | ({"embedding": _floats(v["vector"])} if "vectors" in include else {})
            for v in vectors
        ],
        "created_at": doc["created_at"],
    } | ({"parsed_text": doc["parsed_text"]} if "text" in include else {})


def _floats(encoded: str) -> list[float]:
    """A stored vector (base64 of little-endian float32) as floats."""
    raw = base64.b64decode(encoded)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))

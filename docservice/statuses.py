"""The job status model (DESIGN.md), in pipeline order, and which failure ends each stage."""

from __future__ import annotations

PIPELINE: tuple[str, ...] = (
    "uploaded",
    "parse_queued",
    "parsed",
    "parse_validated",
    "chunking",
    "chunks_stored",
    "embedding_queued",
    "embedding_in_progress",
    "embeddings_stored",
    "complete",
)
FAILURES: tuple[str, ...] = ("failed_parse", "failed_chunking", "failed_embedding")
STATUSES: tuple[str, ...] = PIPELINE + FAILURES
TERMINAL: frozenset[str] = frozenset(("complete", *FAILURES))

#: the failure status a job ends in when the step *leaving* this status keeps failing
FAILURE_FOR: dict[str, str] = {
    "uploaded": "failed_parse",
    "parse_queued": "failed_parse",
    "parsed": "failed_parse",
    "parse_validated": "failed_chunking",
    "chunking": "failed_chunking",
    "chunks_stored": "failed_embedding",
    "embedding_queued": "failed_embedding",
    "embedding_in_progress": "failed_embedding",
    "embeddings_stored": "failed_embedding",
}

#: statuses a worker advances (parse_queued only once its poll fallback is due)
WORKER_STATUSES: tuple[str, ...] = tuple(s for s in PIPELINE if s not in ("complete",))


def next_status(status: str) -> str:
    """The status after ``status`` in the pipeline."""
    return PIPELINE[PIPELINE.index(status) + 1]

-- docservice schema v1: documents, jobs with their event trail, chunk and vector stores,
-- worker heartbeats. Portable SQL (SQLite and PostgreSQL); timestamps are fixed-width
-- ISO 8601 UTC strings so they compare correctly as text on both.
CREATE TABLE documents (
    document_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    raw_path TEXT NOT NULL,
    metadata TEXT,
    parser_name TEXT,
    parser_version TEXT,
    parser_pages INTEGER,
    parsed_markdown TEXT,
    parsed_text TEXT,
    parsed_text_sha256 TEXT,
    chunker_name TEXT,
    chunker_version INTEGER,
    embedding_model TEXT,
    embedding_dimensions INTEGER,
    created_at TEXT NOT NULL,
    UNIQUE (user_id, sha256)
);

CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN (
        'uploaded', 'parse_queued', 'parsed', 'parse_validated', 'chunking', 'chunks_stored',
        'embedding_queued', 'embedding_in_progress', 'embeddings_stored', 'complete',
        'failed_parse', 'failed_chunking', 'failed_embedding')),
    retry_count INTEGER NOT NULL DEFAULT 0,
    stage_attempts INTEGER NOT NULL DEFAULT 0,
    chunks_total INTEGER NOT NULL DEFAULT 0,
    chunks_done INTEGER NOT NULL DEFAULT 0,
    embeddings_done INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    correlation_id TEXT,
    parser_job_id TEXT,
    parse_submitted_at TEXT,
    next_attempt_at TEXT,
    claimed_by TEXT,
    lease_until TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX jobs_claim ON jobs (status, next_attempt_at);
CREATE INDEX jobs_document ON jobs (document_id);

CREATE TABLE job_events (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    at TEXT NOT NULL,
    correlation_id TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE chunks (
    chunk_id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    UNIQUE (document_id, ordinal)
);

CREATE TABLE vectors (
    chunk_id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL,
    model TEXT NOT NULL,
    dimensions INTEGER NOT NULL,
    vector TEXT NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE INDEX vectors_document ON vectors (document_id);

CREATE TABLE worker_heartbeats (
    worker_id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    started_at TEXT NOT NULL,
    beat_at TEXT NOT NULL,
    jobs_done INTEGER NOT NULL DEFAULT 0
);

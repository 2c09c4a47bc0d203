"""Configuration from environment variables (one table: ENV_VARS), shared by API and worker.

Everything is read once per process into a frozen :class:`Settings`; nothing is module-level
mutable. Faults that change configuration (config_drift) are applied here so the API, worker
and /version all agree on what the deployment is running.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from docservice.faults import Faults, parse_faults

#: the parser names /version reports: the real LlamaParse, or the stand-in the launcher starts
REAL_PARSER_NAME = "llamaparse"
STANDIN_PARSER_NAME = "llamaparse-standin"

#: name -> (default, meaning). docs/docservice.md renders the same table.
ENV_VARS: dict[str, tuple[str, str]] = {
    "DOCSERVICE_DATABASE_URL": (
        "sqlite:///<data dir>/docservice.sqlite3",
        "sqlite:///path or postgresql://...",
    ),
    "DOCSERVICE_DATA_DIR": (
        "./docservice-data",
        "uploaded PDFs (raw/) and the default SQLite file",
    ),
    "DOCSERVICE_API_TOKENS": ("", "comma-separated `token` or `token=user`; required for the API"),
    "DOCSERVICE_WEBHOOK_SECRET": ("", "master secret; per-job secret = hex(HMAC(master, job_id))"),
    "DOCSERVICE_PUBLIC_URL": (
        "http://127.0.0.1:8000",
        "where the parser's webhook reaches the API",
    ),
    "DOCSERVICE_PARSER_URL": ("http://127.0.0.1:8001", "LlamaParse (or the stand-in) base URL"),
    "DOCSERVICE_PARSER_API_KEY": ("", "bearer key sent to the parser"),
    "DOCSERVICE_PARSER_NAME": (
        REAL_PARSER_NAME,
        "the parser's name in /version's fingerprint, and on documents whose parser result "
        "names no parser (LlamaParse's do not); the launcher sets `llamaparse-standin` when it "
        "starts the stand-ins",
    ),
    "DOCSERVICE_EMBEDDINGS_URL": (
        "http://127.0.0.1:8002",
        "OpenAI-compatible base URL (without /v1)",
    ),
    "DOCSERVICE_EMBEDDINGS_API_KEY": ("", "bearer key sent to the embeddings service"),
    "DOCSERVICE_EMBEDDING_MODEL": ("text-embedding-3-small", "embedding model"),
    "DOCSERVICE_EMBEDDING_DIMENSIONS": ("1536", "embedding dimensions"),
    "DOCSERVICE_EMBED_BATCH_SIZE": ("256", "inputs per embeddings call (at most 256)"),
    "DOCSERVICE_CHUNK_LINES": ("20", "markdown-simple: start a new chunk every N lines"),
    "DOCSERVICE_MAX_UPLOAD_BYTES": ("26214400", "upload size limit (25 MB)"),
    "DOCSERVICE_MAX_WEBHOOK_BYTES": (
        "8388608",
        "parser webhook body limit (8 MB; 413 above, before the signature is checked)",
    ),
    "DOCSERVICE_MAX_PAGES": ("500", "pages per document; more -> failed_parse `too_many_pages`"),
    "DOCSERVICE_MAX_CHUNKS": (
        "5000",
        "chunks per document; more -> failed_chunking `too_many_chunks`",
    ),
    "DOCSERVICE_RATE_UPLOADS_PER_MIN": ("600", "uploads per minute per user (429 above)"),
    "DOCSERVICE_RATE_POLLS_PER_S": (
        "100",
        "GET /api/v2/jobs/{id} per second per job and user (429 above; counted after the "
        "ownership check)",
    ),
    "DOCSERVICE_WORKER_POLL_S": ("0.05", "worker idle poll interval"),
    "DOCSERVICE_HEARTBEAT_S": ("1.0", "worker heartbeat interval"),
    "DOCSERVICE_HEARTBEAT_STALE_S": ("5.0", "heartbeat older than this = worker down (health 503)"),
    "DOCSERVICE_LEASE_S": ("30", "a claimed job is re-claimable after this long without progress"),
    "DOCSERVICE_MAX_RETRIES": ("3", "retries per stage before failed_*"),
    "DOCSERVICE_RETRY_BASE_S": ("0.1", "backoff = base * 2**(attempt-1)"),
    "DOCSERVICE_PARSE_POLL_AFTER_S": ("5.0", "poll the parser job if no webhook arrived by then"),
    "DOCSERVICE_PARSE_TIMEOUT_S": ("120", "give up on a parse (failed_parse) after this long"),
    "DOCSERVICE_HTTP_TIMEOUT_S": ("30", "timeout of every outbound call (parser, embeddings)"),
    "DOCSERVICE_STAGE_FLOOR_S": ("0.05", "minimum stage time the slow=<factor> fault multiplies"),
    "DOCSERVICE_WORKER_RESTARTS": (
        "0",
        "set by the launcher's supervisor: times this worker was restarted (shown by /health)",
    ),
    "DOCSERVICE_FAULTS": ("", "fault switches, name[=value],... (see faults.py)"),
    "DOCSERVICE_GIT_REVISION": ("(git rev-parse HEAD)", "reported by /version"),
    "DOCSERVICE_LOG_LEVEL": ("INFO", "log level of the JSON logs"),
}

CHUNKER_NAME = "markdown-simple"


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


def _num(env: Mapping[str, str], name: str, kind: type = float) -> float:
    raw = env.get(name, "").strip() or ENV_VARS[name][0]
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(
            f"{name}={raw!r} is not a {kind.__name__}; unset it to use the default "
            f"{ENV_VARS[name][0]!r}"
        ) from None


def parse_tokens(raw: str) -> dict[str, str]:
    """``"tok1,tok2=alice"`` -> {token: user}; a bare token's user is ``user-<n>``."""
    tokens: dict[str, str] = {}
    for n, item in enumerate(x.strip() for x in raw.split(",")):
        if not item:
            continue
        token, _, user = item.partition("=")
        tokens[token.strip()] = user.strip() or f"user-{n + 1}"
    return tokens


@dataclass(frozen=True)
class Settings:
    """One process's configuration; build it with :meth:`from_env`."""

    data_dir: Path
    database_url: str
    api_tokens: dict[str, str] = field(repr=False)
    webhook_secret: str = field(repr=False)
    public_url: str
    parser_url: str
    parser_api_key: str = field(repr=False)
    parser_name: str
    embeddings_url: str
    embeddings_api_key: str = field(repr=False)
    embedding_model: str
    embedding_dimensions: int
    embed_batch_size: int
    chunker_version: int
    chunk_lines: int
    max_upload_bytes: int
    max_webhook_bytes: int
    max_pages: int
    max_chunks: int
    rate_uploads_per_min: float
    rate_polls_per_s: float
    worker_poll_s: float
    heartbeat_s: float
    heartbeat_stale_s: float
    lease_s: float
    max_retries: int
    retry_base_s: float
    parse_poll_after_s: float
    parse_timeout_s: float
    http_timeout_s: float
    stage_floor_s: float
    worker_restarts: int
    git_revision: str
    log_level: str
    faults: Faults

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every DOCSERVICE_* variable (defaults in ENV_VARS) and apply config faults."""
        env = os.environ if env is None else env
        faults = parse_faults(env.get("DOCSERVICE_FAULTS", ""))
        data_dir = Path(env.get("DOCSERVICE_DATA_DIR") or "./docservice-data").resolve()
        db_url = (
            env.get("DOCSERVICE_DATABASE_URL") or f"sqlite:///{data_dir / 'docservice.sqlite3'}"
        )
        dims = int(_num(env, "DOCSERVICE_EMBEDDING_DIMENSIONS", int))
        chunker_version, chunk_lines = 1, int(_num(env, "DOCSERVICE_CHUNK_LINES", int))
        if "config_drift" in faults:
            # The drifted deployment runs a newer chunker and a smaller embedding size
            # than the baseline was recorded with, while every request still succeeds.
            chunker_version, chunk_lines, dims = 2, max(1, chunk_lines // 2), 768
        batch = int(_num(env, "DOCSERVICE_EMBED_BATCH_SIZE", int))
        if not 1 <= batch <= 256:
            raise SettingsError(f"DOCSERVICE_EMBED_BATCH_SIZE={batch} must be between 1 and 256")
        return cls(
            data_dir=data_dir,
            database_url=db_url,
            api_tokens=parse_tokens(env.get("DOCSERVICE_API_TOKENS", "")),
            webhook_secret=env.get("DOCSERVICE_WEBHOOK_SECRET", ""),
            public_url=(
                env.get("DOCSERVICE_PUBLIC_URL") or ENV_VARS["DOCSERVICE_PUBLIC_URL"][0]
            ).rstrip("/"),
            parser_url=(
                env.get("DOCSERVICE_PARSER_URL") or ENV_VARS["DOCSERVICE_PARSER_URL"][0]
            ).rstrip("/"),
            parser_api_key=env.get("DOCSERVICE_PARSER_API_KEY", ""),
            parser_name=(
                env.get("DOCSERVICE_PARSER_NAME", "").strip()
                or ENV_VARS["DOCSERVICE_PARSER_NAME"][0]
            ),
            embeddings_url=(
                env.get("DOCSERVICE_EMBEDDINGS_URL") or ENV_VARS["DOCSERVICE_EMBEDDINGS_URL"][0]
            ).rstrip("/"),
            embeddings_api_key=env.get("DOCSERVICE_EMBEDDINGS_API_KEY", ""),
            embedding_model=env.get("DOCSERVICE_EMBEDDING_MODEL") or "text-embedding-3-small",
            embedding_dimensions=dims,
            embed_batch_size=batch,
            chunker_version=chunker_version,
            chunk_lines=chunk_lines,
            max_upload_bytes=int(_num(env, "DOCSERVICE_MAX_UPLOAD_BYTES", int)),
            max_webhook_bytes=int(_num(env, "DOCSERVICE_MAX_WEBHOOK_BYTES", int)),
            max_pages=int(_num(env, "DOCSERVICE_MAX_PAGES", int)),
            max_chunks=int(_num(env, "DOCSERVICE_MAX_CHUNKS", int)),
            rate_uploads_per_min=_num(env, "DOCSERVICE_RATE_UPLOADS_PER_MIN"),
            rate_polls_per_s=_num(env, "DOCSERVICE_RATE_POLLS_PER_S"),
            worker_poll_s=_num(env, "DOCSERVICE_WORKER_POLL_S"),
            heartbeat_s=_num(env, "DOCSERVICE_HEARTBEAT_S"),
            heartbeat_stale_s=_num(env, "DOCSERVICE_HEARTBEAT_STALE_S"),
            lease_s=_num(env, "DOCSERVICE_LEASE_S"),
            max_retries=int(_num(env, "DOCSERVICE_MAX_RETRIES", int)),
            retry_base_s=_num(env, "DOCSERVICE_RETRY_BASE_S"),
            parse_poll_after_s=_num(env, "DOCSERVICE_PARSE_POLL_AFTER_S"),
            parse_timeout_s=_num(env, "DOCSERVICE_PARSE_TIMEOUT_S"),
            http_timeout_s=_num(env, "DOCSERVICE_HTTP_TIMEOUT_S"),
            stage_floor_s=_num(env, "DOCSERVICE_STAGE_FLOOR_S"),
            worker_restarts=int(_num(env, "DOCSERVICE_WORKER_RESTARTS", int)),
            git_revision=env.get("DOCSERVICE_GIT_REVISION") or "",
            log_level=(env.get("DOCSERVICE_LOG_LEVEL") or "INFO").upper(),
            faults=faults,
        )

    @property
    def chunker(self) -> str:
        """``markdown-simple@1`` (or @2 under config_drift)."""
        return f"{CHUNKER_NAME}@{self.chunker_version}"

    def job_webhook_secret(self, job_id: str) -> str:
        """The per-job signing secret the parser gets: hex(HMAC-SHA256(master, job_id))."""
        return hmac.new(self.webhook_secret.encode(), job_id.encode(), hashlib.sha256).hexdigest()

    def config_fingerprint(self) -> dict[str, object]:
        """What the deployment runs, without secrets (served by /version)."""
        return {
            "chunker": self.chunker,
            "embedding_model": self.embedding_model,
            "embedding_dimensions": self.embedding_dimensions,
            "parser": self.parser_name,
        }


def git_revision() -> str:
    """The repository's HEAD commit, or "unknown" outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"

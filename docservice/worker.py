"""BaseWorker: claims jobs from the database and moves them through the pipeline.

One process runs one worker; several may run against the same database. A job is claimed
by setting ``claimed_by``/``lease_until`` inside a transaction that locked it
(PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite ``BEGIN IMMEDIATE``, which serialises
writers). Every status change re-checks the claim in its own transaction together with the
durable write it stands for and the event row, so a worker that lost its lease can never
overwrite another's progress. A heartbeat thread proves the process is alive.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import math
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from docservice.chunking import chunk_markdown, normalise_markdown, sha256_hex
from docservice.clock import Clock, parse_iso
from docservice.db import Database, Tx
from docservice.logs import correlation, log
from docservice.metrics import create_metrics, init_worker_series
from docservice.settings import CHUNKER_NAME, Settings
from docservice.statuses import FAILURE_FOR, PIPELINE, WORKER_STATUSES
from docservice.store import add_event

logger = logging.getLogger("docservice.worker")


class LostClaim(Exception):
    """The job changed under us (deleted, re-claimed after lease expiry, or moved on)."""


class StageError(Exception):
    """A stage failed; ``permanent`` failures skip the retries."""

    def __init__(self, code: str, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.code, self.message, self.permanent = code, message, permanent


class Worker:
    """The BaseWorker loop: claim, run stages until the job waits or ends, repeat."""

    def __init__(self, settings: Settings, worker_id: str) -> None:
        import requests

        self.s = settings
        self.faults = settings.faults
        self.worker_id = worker_id
        self.db = Database(settings.database_url)
        self.clock = Clock(self.faults.clock_skew_s)
        self.stop = threading.Event()
        self.http = requests.Session()
        self.metrics = create_metrics()
        init_worker_series(self.metrics)
        self.jobs_done = 0
        self._stage_started = 0.0
        self.claimable = tuple(s for s in WORKER_STATUSES if s != self.faults.stall_at)
        self.handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
            "uploaded": self._submit_parse,
            "parse_queued": self._await_parse,
            "parsed": self._validate_parse,
            "parse_validated": self._start_chunking,
            "chunking": self._store_chunks,
            "chunks_stored": self._queue_embedding,
            "embedding_queued": self._start_embedding,
            "embedding_in_progress": self._store_embeddings,
            "embeddings_stored": self._finalize,
        }

    # ----- main loop --------------------------------------------------------------------
    def run(self) -> None:
        """Run until :attr:`stop` is set (SIGTERM/SIGINT in the CLI)."""
        self._wait_for_schema()
        import pypdf  # noqa: F401 - imported now, not inside the first job's first stage

        self.metrics.worker_starts.inc()
        # One beat before the first claim: the claim below takes over jobs of workers without
        # a fresh heartbeat, and this worker must not look like one of them to the others.
        self._beat(self.clock.iso())
        beat = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        beat.start()
        log(logger, "worker started", worker_id=self.worker_id, statuses=list(self.claimable))
        while not self.stop.is_set():
            try:
                job = self.claim()
            except Exception as exc:
                log(logger, "claim failed", logging.ERROR, error=str(exc)[:300])
                self.stop.wait(1.0)
                continue
            if job is None:
                self.stop.wait(self.s.worker_poll_s)
                continue
            with correlation(job["correlation_id"]):
                try:
                    self.process(job)
                except Exception as exc:
                    # e.g. the database went away while recording a failure: the lease
                    # expires and the job is claimed again, so keep the worker alive.
                    log(
                        logger,
                        "processing failed",
                        logging.ERROR,
                        job_id=job["job_id"],
                        error=str(exc)[:300],
                    )
                    self.stop.wait(1.0)
        beat.join(timeout=5)
        self._remove_heartbeat()
        log(logger, "worker stopped", worker_id=self.worker_id, jobs_done=self.jobs_done)

    def _wait_for_schema(self) -> None:
        while not self.stop.is_set():
            try:
                if self.db.schema_version() >= 1:
                    return
            except Exception as exc:
                log(logger, "database not ready", logging.WARNING, error=str(exc)[:200])
            self.stop.wait(0.2)

    def _heartbeat_loop(self) -> None:
        started = self.clock.iso()
        while not self.stop.wait(self.s.heartbeat_s):
            self._beat(started)

    def _beat(self, started: str) -> None:
        try:
            with self.db.tx() as tx:
                tx.execute(
                    "INSERT INTO worker_heartbeats (worker_id, pid, hostname, started_at, beat_at, "
                    "jobs_done, restarts) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (worker_id) DO "
                    "UPDATE SET pid = excluded.pid, started_at = excluded.started_at, "
                    "beat_at = excluded.beat_at, jobs_done = excluded.jobs_done, "
                    "restarts = excluded.restarts",
                    (
                        self.worker_id,
                        os.getpid(),
                        socket.gethostname(),
                        started,
                        self.clock.iso(),
                        self.jobs_done,
                        self.s.worker_restarts,
                    ),
                )
        except Exception as exc:
            log(logger, "heartbeat failed", logging.ERROR, error=str(exc)[:200])

    def _remove_heartbeat(self) -> None:
        # A worker that stops on purpose says so at once instead of letting health wait
        # for its heartbeat to go stale.
        try:
            with self.db.tx() as tx:
                tx.execute("DELETE FROM worker_heartbeats WHERE worker_id = ?", (self.worker_id,))
        except Exception:
            pass

    def claim(self) -> dict[str, Any] | None:
        """Claim one due job (or None). Safe with many workers on either database."""
        now = self.clock.iso()
        marks = ",".join("?" * len(self.claimable))
        # Claimable: unleased or lease expired, or leased by a worker that is gone - this
        # worker's own earlier life (a restart keeps the id) or one whose heartbeat is stale -
        # so a killed worker's jobs are taken over in seconds, not after the whole lease.
        where = (
            f"status IN ({marks}) AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
            "AND (lease_until IS NULL OR lease_until < ? OR claimed_by = ? OR claimed_by NOT IN "
            "(SELECT worker_id FROM worker_heartbeats WHERE beat_at >= ?)) "
            "AND (status <> 'parse_queued' OR next_attempt_at IS NOT NULL)"
        )
        stale = self.clock.iso(-self.s.heartbeat_stale_s)
        params = (*self.claimable, now, now, self.worker_id, stale)
        # Cheap read first: an idle worker polling every 50 ms must not take the write lock.
        with self.db.tx(write=False) as tx:
            if tx.one(f"SELECT job_id FROM jobs WHERE {where} LIMIT 1", params) is None:
                return None
        with self.db.tx() as tx:
            job = tx.one(
                f"SELECT * FROM jobs WHERE {where} ORDER BY updated_at LIMIT 1"
                + tx.for_update(skip_locked=True),
                params,
            )
            if job is None:
                return None
            lease = self.clock.iso(self.s.lease_s)
            tx.execute(
                "UPDATE jobs SET claimed_by = ?, lease_until = ? WHERE job_id = ?",
                (self.worker_id, lease, job["job_id"]),
            )
            job.update(claimed_by=self.worker_id, lease_until=lease)
        return job

    def process(self, job: dict[str, Any]) -> None:
        """Run stages while this worker holds the job and the next stage is ours."""
        log(logger, "claimed", job_id=job["job_id"], status=job["status"])
        current: dict[str, Any] | None = job
        while current is not None and not self.stop.is_set():
            status = current["status"]
            if status not in self.claimable:
                self._release(current)
                return
            self._stage_started = time.perf_counter()
            try:
                current = self.handlers[status](current)
            except LostClaim:
                log(logger, "lost claim", logging.WARNING, job_id=job["job_id"], status=status)
                return
            except StageError as exc:
                self._retry_or_fail(current, exc)
                return
            except Exception as exc:  # a bug or a database error: retried like any failure
                self._retry_or_fail(
                    current, StageError(_error_code(exc), f"{type(exc).__name__}: {exc}")
                )
                return
            finally:
                self.metrics.stage_duration.labels(status).observe(
                    time.perf_counter() - self._stage_started
                )
        if current is not None:
            self._release(current)

    # ----- transactions -----------------------------------------------------------------
    def _locked(self, tx: Tx, job: dict[str, Any]) -> dict[str, Any]:
        row = tx.one("SELECT * FROM jobs WHERE job_id = ?" + tx.for_update(), (job["job_id"],))
        if row is None or row["claimed_by"] != self.worker_id or row["status"] != job["status"]:
            raise LostClaim(job["job_id"])
        return row

    def _pace(self) -> None:
        """slow=<factor>: stretch the stage to factor x its duration (floored)."""
        factor = self.faults.slow_factor
        if factor > 1:
            spent = time.perf_counter() - self._stage_started
            self.stop.wait((factor - 1) * max(spent, self.s.stage_floor_s))

    def _advance(
        self,
        job: dict[str, Any],
        to: str,
        sets: dict[str, Any] | None = None,
        detail: dict[str, Any] | None = None,
        writes: Callable[[Tx], None] | None = None,
        keep: bool = True,
    ) -> dict[str, Any]:
        """Commit ``writes`` + status ``to`` + its event in one transaction.

        ``keep`` holds the lease for the next stage; otherwise the job is released.
        """
        self._pace()
        now = self.clock.iso()
        values = {
            "status": to,
            "updated_at": now,
            "stage_attempts": 0,
            "claimed_by": self.worker_id if keep else None,
            "lease_until": self.clock.iso(self.s.lease_s) if keep else None,
            **(sets or {}),
        }
        with self.db.tx() as tx:
            self._locked(tx, job)
            if writes:
                writes(tx)
            assign = ", ".join(f"{k} = ?" for k in values)
            tx.execute(
                f"UPDATE jobs SET {assign} WHERE job_id = ?", (*values.values(), job["job_id"])
            )
            add_event(tx, job["job_id"], to, now, job["correlation_id"], detail)
            row = tx.one("SELECT * FROM jobs WHERE job_id = ?", (job["job_id"],))
        log(logger, "status", job_id=job["job_id"], status=to, **(detail or {}))
        return row  # type: ignore[return-value]

    def _update(
        self, job: dict[str, Any], sets: dict[str, Any], writes: Callable[[Tx], None] | None = None
    ) -> dict[str, Any]:
        """Commit a change that does not move the status (claim re-checked)."""
        with self.db.tx() as tx:
            self._locked(tx, job)
            if writes:
                writes(tx)
            assign = ", ".join(f"{k} = ?" for k in sets)
            tx.execute(
                f"UPDATE jobs SET {assign} WHERE job_id = ?", (*sets.values(), job["job_id"])
            )
            return tx.one("SELECT * FROM jobs WHERE job_id = ?", (job["job_id"],))  # type: ignore[return-value]

    def _release(self, job: dict[str, Any], sets: dict[str, Any] | None = None) -> None:
        with contextlib.suppress(LostClaim):
            self._update(job, {"claimed_by": None, "lease_until": None, **(sets or {})})

    def _retry_or_fail(self, job: dict[str, Any], exc: StageError) -> None:
        attempts = int(job["stage_attempts"]) + 1
        now = self.clock.iso()
        error = {
            "code": exc.code,
            "message": exc.message[:500],
            "at": now,
            "stage": job["status"],
            "attempt": attempts,
        }
        try:
            if exc.permanent or attempts > self.s.max_retries:
                failure = FAILURE_FOR[job["status"]]
                self._advance(
                    job,
                    failure,
                    sets={
                        "last_error": json.dumps(error),
                        "stage_attempts": attempts,
                        "next_attempt_at": None,
                    },
                    detail={"error": exc.code, "failed_stage": job["status"]},
                    keep=False,
                )
                self.metrics.jobs_failed.labels(failure).inc()
                log(
                    logger,
                    "job failed",
                    logging.ERROR,
                    job_id=job["job_id"],
                    status=failure,
                    error=error,
                )
                return
            delay = self.s.retry_base_s * 2 ** (attempts - 1)
            sets: dict[str, Any] = {
                "stage_attempts": attempts,
                "retry_count": int(job["retry_count"]) + 1,
                "last_error": json.dumps(error),
                "next_attempt_at": self.clock.iso(delay),
                "claimed_by": None,
                "lease_until": None,
            }
            if job["status"] in ("uploaded", "parse_queued"):
                sets["parser_job_id"] = None  # resubmit the document on retry
            self._update(job, sets)
            log(
                logger,
                "retry scheduled",
                logging.WARNING,
                job_id=job["job_id"],
                error=error,
                delay_s=delay,
            )
        except LostClaim:
            pass

    # ----- outbound calls ---------------------------------------------------------------
    def _headers(self, key: str) -> dict[str, str]:
        from docservice.logs import CORRELATION_ID

        headers = {"Authorization": f"Bearer {key}"} if key else {}
        cid = CORRELATION_ID.get()
        if cid and "drop_correlation" not in self.faults:
            headers["X-Correlation-ID"] = cid
        return headers

    def _call(self, method: str, url: str, key: str, what: str, **kwargs: Any) -> Any:
        import requests

        counted = self.metrics.external_requests
        try:
            resp = self.http.request(
                method, url, headers=self._headers(key), timeout=self.s.http_timeout_s, **kwargs
            )
        except requests.RequestException as exc:
            counted.labels(what, "unreachable").inc()
            raise StageError(
                f"{what}_unreachable", f"{what} at {url.split('?')[0]}: {type(exc).__name__}"
            ) from None
        if resp.status_code >= 400:
            counted.labels(what, "http_5xx" if resp.status_code >= 500 else "http_4xx").inc()
            # A refusal (4xx other than timeout/rate limit) will not change on retry.
            permanent = 400 <= resp.status_code < 500 and resp.status_code not in (408, 429)
            raise StageError(
                f"{what}_http_{resp.status_code}",
                f"{what} answered {resp.status_code}: {resp.text[:200]}",
                permanent=permanent,
            )
        try:
            body = resp.json()
        except ValueError:
            counted.labels(what, "bad_response").inc()
            raise StageError(f"{what}_bad_response", f"{what} answered non-JSON") from None
        counted.labels(what, "ok").inc()
        return body

    def _document(self, job: dict[str, Any]) -> dict[str, Any]:
        with self.db.tx(write=False) as tx:
            doc = tx.one("SELECT * FROM documents WHERE document_id = ?", (job["document_id"],))
        if doc is None:
            raise LostClaim(job["job_id"])
        return doc

    # ----- stages -----------------------------------------------------------------------
    def _submit_parse(self, job: dict[str, Any]) -> None:
        if "instant_complete" in self.faults:
            return self._instant_complete(job)
        parser_job_id = self._send_to_parser(job)
        self._advance(
            job,
            "parse_queued",
            sets={
                "parser_job_id": parser_job_id,
                "parse_submitted_at": self.clock.iso(),
                "next_attempt_at": self.clock.iso(self.s.parse_poll_after_s),
            },
            detail={"parser_job_id": parser_job_id},
            keep=False,
        )
        # A callback that arrived before the commit above found the job still 'uploaded'
        # and only stored the markdown: make the job due now so a worker records 'parsed'.
        with self.db.tx() as tx:
            tx.execute(
                "UPDATE jobs SET next_attempt_at = ? WHERE job_id = ? AND status = 'parse_queued' "
                "AND EXISTS (SELECT 1 FROM documents d WHERE d.document_id = jobs.document_id "
                "AND d.parsed_markdown IS NOT NULL)",
                (self.clock.iso(), job["job_id"]),
            )
        return None

    def _send_to_parser(self, job: dict[str, Any]) -> str:
        doc = self._document(job)
        path = Path(doc["raw_path"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StageError(
                "raw_file_missing", f"stored upload unreadable: {exc.strerror}", permanent=True
            ) from None
        self._check_pages(data)
        # attempt = the retry count at submission: a callback for an earlier submission
        # (the job retried since) no longer matches and is answered applied: false.
        webhook_url = (
            f"{self.s.public_url}/api/v2/webhooks/llamaparse/{job['job_id']}"
            f"?attempt={job['retry_count']}"
        )
        form = {
            "result_type": "markdown",
            "webhook_url": webhook_url,
            "webhook_signing_secret": self.s.job_webhook_secret(job["job_id"]),
        }
        body = self._call(
            "POST",
            f"{self.s.parser_url}/api/v1/parsing/upload",
            self.s.parser_api_key,
            "parser",
            files={"file": (doc["filename"], data, "application/pdf")},
            data=form,
        )
        if not body.get("id"):
            raise StageError("parser_bad_response", "parser upload answered without a job id")
        return str(body["id"])

    def _check_pages(self, data: bytes) -> None:
        """DOCSERVICE_MAX_PAGES, counted here before the parser spends time on the file."""
        from pypdf import PdfReader

        try:
            pages = len(PdfReader(io.BytesIO(data)).pages)
        except Exception:
            return  # unreadable here: the parser's refusal says why (parser_http_4xx)
        if pages > self.s.max_pages:
            raise StageError(
                "too_many_pages",
                f"the PDF has {pages} pages; DOCSERVICE_MAX_PAGES is {self.s.max_pages}",
                permanent=True,
            )

    def _await_parse(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """parse_queued: the webhook normally moves the job; this is the fallback."""
        doc = self._document(job)
        if doc["parsed_markdown"] is not None:
            return self._advance(
                job,
                "parsed",
                detail={"via": "webhook-early", "parser_job_id": job["parser_job_id"]},
            )
        if not job["parser_job_id"]:  # retry after a parser error: submit again
            pid = self._send_to_parser(job)
            self._release(
                job,
                {
                    "parser_job_id": pid,
                    "parse_submitted_at": self.clock.iso(),
                    "next_attempt_at": self.clock.iso(self.s.parse_poll_after_s),
                },
            )
            return None
        submitted = parse_iso(job["parse_submitted_at"])
        if (self.clock.now() - submitted).total_seconds() > self.s.parse_timeout_s:
            raise StageError(
                "parse_timeout",
                f"no parse result after {self.s.parse_timeout_s:.0f} s",
                permanent=True,
            )
        base = f"{self.s.parser_url}/api/v1/parsing/job/{job['parser_job_id']}"
        state = self._call("GET", base, self.s.parser_api_key, "parser")
        status = str(state.get("status", "")).upper()
        if status == "ERROR":
            self.metrics.external_requests.labels("parser", "job_error").inc()
            raise StageError(
                "parser_error", str(state.get("error_message") or "parser reported ERROR")
            )
        if status != "SUCCESS":
            self._release(job, {"next_attempt_at": self.clock.iso(1.0)})
            return None
        result = self._call("GET", f"{base}/result/markdown", self.s.parser_api_key, "parser")
        meta = result.get("job_metadata") or {}
        markdown = str(result.get("markdown") or "")

        def store(tx: Tx) -> None:
            tx.execute(
                "UPDATE documents SET parsed_markdown = ?, parser_name = ?, parser_version = ?, parser_pages = ? WHERE document_id = ?",
                (
                    markdown,
                    str(meta.get("parser_name") or self.s.parser_name),
                    str(meta.get("parser_version") or "unknown"),
                    meta.get("job_pages"),
                    job["document_id"],
                ),
            )

        return self._advance(
            job,
            "parsed",
            sets={"next_attempt_at": None},
            detail={"via": "poll", "parser_job_id": job["parser_job_id"]},
            writes=store,
        )

    def _validate_parse(self, job: dict[str, Any]) -> dict[str, Any]:
        doc = self._document(job)
        pages = doc["parser_pages"]
        if isinstance(pages, int) and pages > self.s.max_pages:
            raise StageError(
                "too_many_pages",
                f"the parser read {pages} pages; DOCSERVICE_MAX_PAGES is {self.s.max_pages}",
                permanent=True,
            )
        text = normalise_markdown(doc["parsed_markdown"] or "")
        if not text:
            raise StageError(
                "empty_parse", "the parser extracted no text from the document", permanent=True
            )
        digest = sha256_hex(text)

        def store(tx: Tx) -> None:
            tx.execute(
                "UPDATE documents SET parsed_text = ?, parsed_text_sha256 = ? WHERE document_id = ?",
                (text, digest, job["document_id"]),
            )

        return self._advance(
            job, "parse_validated", detail={"parsed_text_sha256": digest}, writes=store
        )

    def _start_chunking(self, job: dict[str, Any]) -> dict[str, Any]:
        def store(tx: Tx) -> None:
            tx.execute(
                "UPDATE documents SET chunker_name = ?, chunker_version = ? WHERE document_id = ?",
                (CHUNKER_NAME, self.s.chunker_version, job["document_id"]),
            )

        return self._advance(job, "chunking", detail={"chunker": self.s.chunker}, writes=store)

    def _store_chunks(self, job: dict[str, Any]) -> dict[str, Any]:
        doc = self._document(job)
        chunks = chunk_markdown(
            job["document_id"],
            doc["parsed_text"] or "",
            CHUNKER_NAME,
            self.s.chunker_version,
            self.s.chunk_lines,
        )
        if not chunks:
            raise StageError("no_chunks", "chunker produced no chunks", permanent=True)
        if len(chunks) > self.s.max_chunks:
            raise StageError(
                "too_many_chunks",
                f"{len(chunks)} chunks; DOCSERVICE_MAX_CHUNKS is {self.s.max_chunks}",
                permanent=True,
            )

        def store(tx: Tx) -> None:
            tx.execute("DELETE FROM vectors WHERE document_id = ?", (job["document_id"],))
            tx.execute("DELETE FROM chunks WHERE document_id = ?", (job["document_id"],))
            for c in chunks:
                tx.execute(
                    "INSERT INTO chunks (chunk_id, document_id, ordinal, text, sha256, chunker_name, chunker_version) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        c.chunk_id,
                        job["document_id"],
                        c.ordinal,
                        c.text,
                        c.sha256,
                        CHUNKER_NAME,
                        self.s.chunker_version,
                    ),
                )

        n = len(chunks)
        return self._advance(
            job,
            "chunks_stored",
            sets={"chunks_total": n, "chunks_done": n, "embeddings_done": 0},
            detail={"chunks": n},
            writes=store,
        )

    def _queue_embedding(self, job: dict[str, Any]) -> dict[str, Any]:
        def store(tx: Tx) -> None:
            tx.execute(
                "UPDATE documents SET embedding_model = ?, embedding_dimensions = ? WHERE document_id = ?",
                (self.s.embedding_model, self.s.embedding_dimensions, job["document_id"]),
            )

        batches = math.ceil(int(job["chunks_total"]) / self.s.embed_batch_size)
        return self._advance(
            job,
            "embedding_queued",
            detail={
                "batches": batches,
                "model": self.s.embedding_model,
                "dimensions": self.s.embedding_dimensions,
            },
            writes=store,
        )

    def _start_embedding(self, job: dict[str, Any]) -> dict[str, Any]:
        return self._advance(job, "embedding_in_progress")

    def _store_embeddings(self, job: dict[str, Any]) -> dict[str, Any]:
        """Embed chunks in batches of <= 256; each batch's vectors commit with the counter."""
        with self.db.tx(write=False) as tx:
            chunks = tx.all(
                "SELECT chunk_id, text FROM chunks WHERE document_id = ? ORDER BY ordinal",
                (job["document_id"],),
            )
        write_vectors = "vectors_not_written" not in self.faults
        done = int(job["embeddings_done"])
        while done < len(chunks):
            batch = chunks[done : done + self.s.embed_batch_size]
            vectors, served = self._embed([c["text"] for c in batch])
            rows = [
                (
                    c["chunk_id"],
                    job["document_id"],
                    served,
                    self.s.embedding_dimensions,
                    *_encode(v),
                )
                for c, v in zip(batch, vectors, strict=True)
            ]

            def store(tx: Tx, rows: list[tuple[Any, ...]] = rows) -> None:
                if not write_vectors:
                    return  # the fault: the counter advances, the rows never land
                for r in rows:
                    tx.execute(
                        "INSERT INTO vectors (chunk_id, document_id, model, dimensions, vector, sha256) "
                        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (chunk_id) DO NOTHING",
                        r,
                    )

            done += len(batch)
            job = self._update(
                job,
                {"embeddings_done": done, "lease_until": self.clock.iso(self.s.lease_s)},
                writes=store,
            )

        def verify(tx: Tx) -> None:
            stored = int(
                tx.scalar(
                    "SELECT COUNT(*) AS n FROM vectors WHERE document_id = ?", (job["document_id"],)
                )
            )
            if write_vectors and stored != len(chunks):
                raise StageError(
                    "vector_count_mismatch", f"{stored} vectors stored for {len(chunks)} chunks"
                )

        return self._advance(job, "embeddings_stored", detail={"vectors": done}, writes=verify)

    def _embed(self, texts: list[str]) -> tuple[list[list[float]], str]:
        """The vectors for ``texts`` and the model the service says it served (its answer's
        ``model``, the requested one if it names none): stored per vector as evidence of
        what really embedded the chunk."""
        body = self._call(
            "POST",
            f"{self.s.embeddings_url}/v1/embeddings",
            self.s.embeddings_api_key,
            "embeddings",
            json={
                "input": texts,
                "model": self.s.embedding_model,
                "encoding_format": "float",
                "dimensions": self.s.embedding_dimensions,
            },
        )
        data = sorted(body.get("data") or [], key=lambda d: d.get("index", 0))
        if len(data) != len(texts):
            raise StageError(
                "embeddings_bad_response", f"{len(data)} embeddings for {len(texts)} inputs"
            )
        vectors = [d.get("embedding") for d in data]
        for v in vectors:
            if not isinstance(v, list) or len(v) != self.s.embedding_dimensions:
                size = len(v) if isinstance(v, list) else type(v).__name__
                raise StageError(
                    "embeddings_bad_dimensions",
                    f"expected {self.s.embedding_dimensions} dimensions, got {size}",
                )
        return vectors, str(body.get("model") or self.s.embedding_model)

    def _finalize(self, job: dict[str, Any]) -> None:
        self._advance(job, "complete", sets={"next_attempt_at": None}, keep=False)
        self.jobs_done += 1
        self.metrics.jobs_completed.inc()
        return None

    def _instant_complete(self, job: dict[str, Any]) -> None:
        """instant_complete: every status written at once, stamped with the upload time."""
        at = job["created_at"]

        with self.db.tx() as tx:
            self._locked(tx, job)
            for status in PIPELINE[1:]:
                add_event(tx, job["job_id"], status, at, job["correlation_id"], {})
            tx.execute(
                "UPDATE jobs SET status = 'complete', updated_at = ?, claimed_by = NULL, lease_until = NULL WHERE job_id = ?",
                (at, job["job_id"]),
            )
        self.jobs_done += 1
        self.metrics.jobs_completed.inc()
        log(logger, "status", job_id=job["job_id"], status="complete", instant=True)
        return None


def _encode(vector: list[float]) -> tuple[str, str]:
    """(base64 of little-endian float32, sha256 of those bytes): the stored vector and digest."""
    raw = struct.pack(f"<{len(vector)}f", *vector)
    return base64.b64encode(raw).decode(), sha256_hex(raw)


def _error_code(exc: Exception) -> str:
    name = type(exc).__name__
    if "sqlite3" in type(exc).__module__ or "psycopg" in type(exc).__module__:
        return "database_error"
    return f"internal_{name.lower()}"

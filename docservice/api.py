"""The docservice HTTP API (FastAPI). The contract is docs/architecture.md, "docservice HTTP
contract"; docs/docservice.md explains it for users.

The API stores uploads, answers status questions and receives the parser's signed webhook.
All pipeline work beyond that happens in the worker processes (docservice.worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import math
import os
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from docservice import __version__
from docservice.chunking import document_id_for, sha256_hex
from docservice.clock import Clock, parse_iso
from docservice.db import Database
from docservice.logs import CORRELATION_ID, correlation_from_headers, log
from docservice.metrics import DeploymentCollector, create_metrics, read_job_stats, render
from docservice.openapi import load as load_openapi
from docservice.ratelimit import RateLimiter
from docservice.settings import Settings, git_revision
from docservice.statuses import WORKER_STATUSES
from docservice.store import (
    INCLUDE_PATTERN,
    INCLUDES,
    add_event,
    document_view,
    events_view,
    job_view,
)
from docservice.uploads import (
    ENVELOPE_BYTES,
    BodyError,
    ReceivedUpload,
    declared_length,
    metadata_json,
    read_bounded,
    receive_upload,
    too_large,
)
from docservice.webhook_payload import ParserCallback, PayloadError, check_payload

logger = logging.getLogger("docservice.api")
MAX_FILENAME = 120
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class ApiError(Exception):
    """An error answered with the stable JSON error shape."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _error_body(code: str, message: str, cid: str | None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "correlation_id": cid}}


def _rate_limited(wait_s: float, what: str) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"too many {what}; retry after {wait_s:.2f} s",
        {"Retry-After": str(max(1, math.ceil(wait_s)))},
    )


class CorrelationMiddleware:
    """Pure ASGI: assigns the correlation ID, echoes it, counts and logs every request."""

    def __init__(self, app: Any, state: Any) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        cid: str | None = correlation_from_headers(
            headers.get("x-correlation-id"), headers.get("traceparent")
        )
        if "drop_correlation" in self.state.settings.faults:
            cid = None
        scope.setdefault("state", {})["correlation_id"] = cid
        token = CORRELATION_ID.set(cid)
        status = {"code": 500}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                if cid:
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"x-correlation-id", cid.encode()),
                    ]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.state.metrics.http_requests.labels(
                scope["method"], route, str(status["code"])
            ).inc()
            log(
                logger,
                "request",
                method=scope["method"],
                path=scope["path"],
                route=route,
                status=status["code"],
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            CORRELATION_ID.reset(token)


#: webhook bodies read at once (each at most DOCSERVICE_MAX_WEBHOOK_BYTES)
WEBHOOK_BODIES = 4
_INCLUDE = re.compile(INCLUDE_PATTERN)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API application, configured from ``settings`` (default: the environment)."""
    settings = settings or Settings.from_env()
    app = FastAPI(title="docservice", version=__version__, docs_url=None, redoc_url=None)
    # /openapi.json serves the committed contract (docservice/openapi.py), not FastAPI's view
    # of the handlers (which take raw requests and would describe none of it).
    app.openapi = load_openapi  # type: ignore[method-assign]
    st = app.state
    st.settings = settings
    st.db = Database(settings.database_url)
    st.clock = Clock(settings.faults.clock_skew_s)
    st.metrics = create_metrics()
    st.upload_limit = RateLimiter(settings.rate_uploads_per_min, 60.0)
    st.poll_limit = RateLimiter(settings.rate_polls_per_s, 1.0)
    # Webhook bodies are read whole before their signature can be checked: at most this many
    # at once, so a flood holds at most WEBHOOK_BODIES x DOCSERVICE_MAX_WEBHOOK_BYTES (the
    # others wait, unread, in the kernel's and uvicorn's flow-controlled buffers).
    st.webhook_bodies = asyncio.Semaphore(WEBHOOK_BODIES)
    st.git_revision = settings.git_revision or git_revision()
    st.health_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")
    st.deployment = DeploymentCollector(
        lambda: _queue_and_heartbeat(app), jobs=lambda: _job_stats(app)
    )
    app.add_middleware(CorrelationMiddleware, state=st)
    faults = settings.faults
    if "dedup_broken" in faults:
        st.db.drop_document_uniqueness()  # only the API inserts documents

    def cid_of(request: Request) -> str | None:
        return request.scope.get("state", {}).get("correlation_id")

    # ----- errors: one stable shape -------------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            _error_body(exc.code, exc.message, cid_of(request)), exc.status, headers=exc.headers
        )

    @app.exception_handler(BodyError)
    async def _body_refused(request: Request, exc: BodyError) -> JSONResponse:
        return await _api_error(request, _body_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette's Allow names only the first route of the path; a path served by
            # several (GET and DELETE of a document) allows all of theirs.
            headers["Allow"] = ", ".join(_allowed_methods(app, request.scope))
        return JSONResponse(
            _error_body(code, str(exc.detail), cid_of(request)), exc.status_code, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(
            ".".join(map(str, e.get("loc", ()))) + ": " + e.get("msg", "") for e in exc.errors()
        )
        return JSONResponse(_error_body("invalid_request", where, cid_of(request)), 400)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        cid = cid_of(request)
        # Served by Starlette's outermost error middleware, outside CorrelationMiddleware.
        return JSONResponse(
            _error_body("internal_error", f"internal error ({type(exc).__name__})", cid),
            500,
            headers={"X-Correlation-ID": cid} if cid else None,
        )

    # ----- auth ---------------------------------------------------------------------------
    def user_of(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            for known, user in settings.api_tokens.items():
                if hmac.compare_digest(known.encode(), token.strip().encode()):
                    return user
        why = (
            "missing bearer token"
            if not header
            else "bearer token not recognised"
            if settings.api_tokens
            else "no API tokens configured (set DOCSERVICE_API_TOKENS)"
        )
        raise ApiError(401, "unauthorized", why, {"WWW-Authenticate": "Bearer"})

    # ----- upload -------------------------------------------------------------------------
    @app.post("/api/v2/upload")
    async def upload(request: Request) -> JSONResponse:
        user = user_of(request)
        wait = st.upload_limit.hit(user)
        if wait is not None:
            raise _rate_limited(wait, "uploads")
        limit = settings.max_upload_bytes
        declared = declared_length(request.headers.get("content-length"))
        if declared is not None and declared > limit + ENVELOPE_BYTES:
            raise _too_large(limit)  # refused before reading any of it
        # Counted while streamed to a temporary file beside raw/: refused the moment the file
        # part passes the limit (also without Content-Length), the partial file removed.
        received = await receive_upload(
            request.headers.get("content-type", ""),
            request.stream(),
            max_file_bytes=limit,
            tmp_dir=settings.data_dir / "raw",
            check_filename=_check_filename,
        )
        try:
            if received.path is None:
                raise ApiError(400, "invalid_request", "multipart field 'file' (a PDF) is required")
            filename = received.filename or ""
            if not received.size:
                raise ApiError(400, "empty_file", f"{filename!r} is empty (0 bytes)")
            if not received.head.startswith(b"%PDF-"):
                raise ApiError(415, "not_pdf", f"{filename!r} is not a PDF (no %PDF- header)")
            metadata = metadata_json(received.metadata)
            body, created = await run_in_threadpool(
                _store_upload, app, user, received, metadata, cid_of(request)
            )
        finally:
            received.discard()
        st.metrics.uploads.labels("accepted" if created else "duplicate").inc()
        log(
            logger,
            "upload",
            job_id=body["job_id"],
            document_id=body["document_id"],
            duplicate=not created,
        )
        if faults.slow_upload_s:
            # slow_upload=<s>: stored and queued as usual, so every server-side stage time is
            # unchanged; only the answer the user waits for comes late
            await asyncio.sleep(faults.slow_upload_s)
        return JSONResponse(body, 202 if created else 200)

    # ----- jobs and documents -------------------------------------------------------------
    @app.get("/api/v2/jobs/{job_id}")
    def get_job(job_id: str, request: Request) -> dict[str, Any]:
        user = user_of(request)
        with st.db.tx(write=False) as tx:
            job = tx.one("SELECT * FROM jobs WHERE job_id = ? AND user_id = ?", (job_id, user))
        if job is None:
            raise ApiError(404, "job_not_found", f"no job {job_id!r} for this user")
        # Counted only once the caller is known to own the job: nobody else's polls can
        # throttle the owner, and unknown ids never take a bucket.
        wait = st.poll_limit.hit(f"{user}\0{job_id}")
        if wait is not None:
            raise _rate_limited(wait, "polls of this job")
        return job_view(job, faults)

    @app.get("/api/v2/jobs/{job_id}/events")
    def get_events(job_id: str, request: Request) -> dict[str, Any]:
        user = user_of(request)
        with st.db.tx(write=False) as tx:
            job = tx.one("SELECT job_id FROM jobs WHERE job_id = ? AND user_id = ?", (job_id, user))
            if job is None:
                raise ApiError(404, "job_not_found", f"no job {job_id!r} for this user")
            return {"job_id": job_id, "events": events_view(tx, job_id)}

    @app.get("/api/v2/documents/{document_id}")
    def get_document(
        document_id: str, request: Request, include: str | None = None
    ) -> dict[str, Any]:
        user = user_of(request)
        if include is not None and not _INCLUDE.fullmatch(include):
            raise ApiError(
                400,
                "bad_include",
                f"include={include[:100]!r}: comma-separated names from {', '.join(INCLUDES)}",
            )
        wanted = frozenset(include.split(",")) if include else frozenset()
        with st.db.tx(write=False) as tx:
            doc = tx.one(
                "SELECT * FROM documents WHERE document_id = ? AND user_id = ?", (document_id, user)
            )
            if doc is None:
                raise ApiError(
                    404, "document_not_found", f"no document {document_id!r} for this user"
                )
            return document_view(tx, doc, faults, wanted)

    @app.delete("/api/v2/documents/{document_id}", status_code=204)
    def delete_document(document_id: str, request: Request) -> Response:
        user = user_of(request)
        moved: tuple[Path, Path] | None = None  # (aside, original) of the stored file
        try:
            with st.db.tx() as tx:
                # The same lock as an upload of the same document: a re-upload runs wholly
                # before (answering duplicate, then deleted here) or wholly after (a new
                # document with its file), never in between.
                tx.lock(document_id)
                doc = tx.one(
                    "SELECT raw_path FROM documents WHERE document_id = ? AND user_id = ?",
                    (document_id, user),
                )
                if doc is None:
                    raise ApiError(
                        404, "document_not_found", f"no document {document_id!r} for this user"
                    )
                tx.execute(
                    "DELETE FROM job_events WHERE job_id IN "
                    "(SELECT job_id FROM jobs WHERE document_id = ?)",
                    (document_id,),
                )
                for table in ("vectors", "chunks", "jobs", "documents"):
                    tx.execute(f"DELETE FROM {table} WHERE document_id = ?", (document_id,))
                raw = Path(doc["raw_path"])
                if raw.exists():
                    # Moved aside under the lock (put back if the commit fails), removed after.
                    aside = raw.with_name(f".{raw.name}.{uuid.uuid4().hex}.deleted")
                    os.replace(raw, aside)
                    moved = (aside, raw)
        except BaseException:
            if moved is not None:
                with contextlib.suppress(OSError):
                    os.replace(*moved)
            raise
        if moved is not None:
            moved[0].unlink(missing_ok=True)
        log(logger, "document deleted", document_id=document_id)
        return Response(status_code=204)

    # ----- parser webhook -----------------------------------------------------------------
    @app.post("/api/v2/webhooks/llamaparse/{job_id}")
    async def parser_webhook(job_id: str, request: Request) -> dict[str, Any]:
        given = request.headers.get("x-webhook-signature", "").strip().lower()
        enforced = "webhook_unsigned_ok" not in faults

        def refuse() -> ApiError:
            log(logger, "webhook rejected", logging.WARNING, job_id=job_id, signed=bool(given))
            return ApiError(
                401,
                "invalid_signature",
                "X-Webhook-Signature missing or not the HMAC-SHA256 of the body "
                "with this job's secret",
            )

        # Refused before the body is read: no signature of the right shape, or a body over
        # the cap (declared, or counted while read) - an unsigned flood costs nothing.
        if enforced and not _SIGNATURE.fullmatch(given):
            raise refuse()
        cap = settings.max_webhook_bytes
        declared = declared_length(request.headers.get("content-length"))
        if declared is not None and declared > cap:
            raise _body_error(too_large("webhook body", cap))
        # Nobody without a live job id gets a body read: a signature of the right shape costs
        # nothing to forge, a job id (a random UUID known to its uploader and the parser) does.
        if not await run_in_threadpool(_job_exists, app, job_id):
            raise ApiError(404, "job_not_found", f"no job {job_id!r}")
        async with st.webhook_bodies:
            raw = await read_bounded(request.stream(), cap, "webhook body")
            expected = hmac.new(
                settings.job_webhook_secret(job_id).encode(), raw, hashlib.sha256
            ).hexdigest()
            if not hmac.compare_digest(given.encode(), expected.encode()):
                if enforced:
                    raise refuse()
                log(
                    logger,
                    "webhook signature NOT enforced (fault webhook_unsigned_ok)",
                    job_id=job_id,
                )
            try:
                callback = check_payload(json.loads(raw))
            except PayloadError as exc:
                raise ApiError(400, "invalid_payload", str(exc)) from None
            except (ValueError, RecursionError):
                raise ApiError(
                    400, "invalid_payload", "webhook body must be a JSON object"
                ) from None
            del raw
        attempt = request.query_params.get("attempt")
        applied = await run_in_threadpool(_apply_webhook, app, job_id, callback, attempt)
        while isinstance(applied, float):
            # slow=<factor>: 'parsed' follows 'parse_queued' no sooner than a slowed stage
            # would, however early the parser's callback came.
            await asyncio.sleep(applied)
            applied = await run_in_threadpool(_apply_webhook, app, job_id, callback, attempt)
        log(logger, "webhook", job_id=job_id, applied=applied, parser_status=callback.status)
        return {"accepted": True, "applied": applied}

    # ----- operations ---------------------------------------------------------------------
    @app.get("/health")
    def health() -> JSONResponse:
        body = _health(app)
        return JSONResponse(body, 200 if body["status"] == "healthy" else 503)

    @app.get("/version")
    def version() -> dict[str, Any]:
        fp = settings.config_fingerprint()
        return {
            "service": "docservice",
            "version": __version__,
            "git_revision": st.git_revision,
            "schema_version": st.db.schema_version(),
            "config_fingerprint": fp,
            "fingerprint_sha256": sha256_hex(json.dumps(fp, sort_keys=True, separators=(",", ":"))),
        }

    @app.get("/metrics")
    def metrics() -> Response:
        payload, content_type = render(st.metrics, st.deployment, frozen="metrics_frozen" in faults)
        return Response(payload, media_type=content_type)

    return app


def _allowed_methods(app: FastAPI, scope: dict[str, Any]) -> list[str]:
    from starlette.routing import Match

    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches(scope)  # PARTIAL: the path matches, the method does not
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "file_too_large", f"file exceeds the upload limit of {limit} bytes")


def _body_error(exc: BodyError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def _check_filename(name: str | None) -> str:
    name = (name or "").strip()
    bad = (
        not name
        or len(name) > MAX_FILENAME
        or name in (".", "..")
        or any(c in name for c in "/\\")
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
    )
    if bad:
        raise ApiError(
            400,
            "invalid_filename",
            f"filename must be 1-{MAX_FILENAME} characters without path separators or "
            f"control characters, got {name[:40]!r}",
        )
    return name


def _store_upload(
    app: FastAPI,
    user: str,
    received: ReceivedUpload,
    metadata: str | None,
    cid: str | None,
) -> tuple[dict[str, Any], bool]:
    """Store the file and create document + job + first event; dedupe on (user, sha256).

    Runs under the document's lock (the one DELETE takes), and the file is moved into place
    inside that transaction: a document row never exists without its file, and a duplicate
    answer names a document that was there when the lock was held.
    """
    st = app.state
    digest, size, filename = received.sha256, received.size, received.filename or ""
    # dedup_broken: the id no longer derives from (user, sha256) and the lookup below is
    # skipped, so identical bytes become a new document (the schema lost its uniqueness).
    dedup = "dedup_broken" not in st.settings.faults
    document_id = document_id_for(user, digest) if dedup else str(uuid.uuid4())
    raw_path = st.settings.data_dir / "raw" / f"{document_id}.pdf"
    now = st.clock.iso()
    job_id = str(uuid.uuid4())
    for _ in range(2):  # second pass only after losing an insert race to the same upload
        try:
            with st.db.tx() as tx:
                tx.lock(document_id)
                existing = (
                    tx.one(
                        "SELECT j.job_id, j.status FROM documents d JOIN jobs j ON j.document_id = d.document_id "
                        "WHERE d.document_id = ? ORDER BY j.created_at DESC",
                        (document_id,),
                    )
                    if dedup
                    else None
                )
                if existing:
                    body = {
                        "document_id": document_id,
                        "job_id": existing["job_id"],
                        "status": None
                        if "empty_status" in st.settings.faults
                        else existing["status"],
                        "correlation_id": cid,
                        "duplicate": True,
                    }
                    return body, False
                if received.path is not None:
                    os.replace(received.path, raw_path)
                    received.path = None
                tx.execute(
                    "INSERT INTO documents (document_id, user_id, filename, sha256, bytes, raw_path, "
                    "metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (document_id, user, filename, digest, size, str(raw_path), metadata, now),
                )
                tx.execute(
                    "INSERT INTO jobs (job_id, document_id, user_id, status, correlation_id, "
                    "created_at, updated_at) VALUES (?, ?, ?, 'uploaded', ?, ?, ?)",
                    (job_id, document_id, user, cid, now, now),
                )
                add_event(tx, job_id, "uploaded", now, cid, {"filename": filename, "bytes": size})
        except Exception as exc:
            if "unique" in str(exc).lower() or "duplicate key" in str(exc).lower():
                continue
            raise
        body = {
            "document_id": document_id,
            "job_id": job_id,
            "status": "uploaded",
            "correlation_id": cid,
            "duplicate": False,
        }
        return body, True
    raise RuntimeError("upload kept conflicting with a concurrent identical upload")


def _job_exists(app: FastAPI, job_id: str) -> bool:
    with app.state.db.tx(write=False) as tx:
        return tx.one("SELECT 1 AS one FROM jobs WHERE job_id = ?", (job_id,)) is not None


def _apply_webhook(
    app: FastAPI, job_id: str, cb: ParserCallback, attempt: str | None
) -> bool | float:
    """Record the parser's result. Returns whether it changed the job ("applied").

    Under the slow=<factor> fault a float is returned instead: the seconds to wait before
    calling again, so that 'parsed' comes a slowed stage after the job's last change.
    """
    st = app.state
    faults = st.settings.faults
    now = st.clock.iso()
    with st.db.tx() as tx:
        job = tx.one("SELECT * FROM jobs WHERE job_id = ?" + tx.for_update(), (job_id,))
        if job is None:
            raise ApiError(404, "job_not_found", f"no job {job_id!r}")
        if faults.stall_at == "parse_queued":
            return False  # the stall fault: accepted, silently never applied
        if not _for_current_submission(job, cb.parser_job_id, attempt):
            return False  # a late callback from an earlier (retried) parse submission
        if cb.status == "SUCCESS" and job["status"] == "parse_queued" and faults.slow_factor > 1:
            since = (st.clock.now() - parse_iso(job["updated_at"])).total_seconds()
            remaining = (faults.slow_factor - 1) * st.settings.stage_floor_s - since
            if remaining > 0:
                return remaining
        if cb.status == "SUCCESS" and job["status"] in ("uploaded", "parse_queued"):
            tx.execute(
                "UPDATE documents SET parsed_markdown = ?, parser_name = ?, parser_version = ?, "
                "parser_pages = ? WHERE document_id = ?",
                (
                    cb.markdown,
                    cb.parser_name or st.settings.parser_name,
                    cb.parser_version,
                    cb.pages,
                    job["document_id"],
                ),
            )
            if job["status"] == "uploaded":
                # The callback beat the worker's own commit of parse_queued: keep the result;
                # the worker moves on to 'parsed' right after recording the submission.
                return True
            tx.execute(
                "UPDATE jobs SET status = 'parsed', updated_at = ?, next_attempt_at = NULL, "
                "stage_attempts = 0 WHERE job_id = ?",
                (now, job_id),
            )
            add_event(
                tx,
                job_id,
                "parsed",
                now,
                job["correlation_id"],
                {"via": "webhook", "parser_job_id": cb.parser_job_id},
            )
            return True
        if cb.status == "ERROR" and job["status"] == "parse_queued":
            error = {
                "code": "parser_error",
                "message": (cb.error_message or "parser reported ERROR")[:500],
                "at": now,
            }
            tx.execute(
                "UPDATE jobs SET last_error = ?, next_attempt_at = ? WHERE job_id = ?",
                (json.dumps(error), now, job_id),
            )
            return True
        return False


def _for_current_submission(job: dict[str, Any], parser_job_id: str, attempt: str | None) -> bool:
    """Whether a callback belongs to the job's current parse submission.

    Once the worker has recorded the parser's job id, the callback must name it. Before that
    (a callback that beat the worker's commit) the webhook URL's ``attempt`` - the job's
    retry count when it was submitted - must still be the job's: every retry counts one up,
    so a callback for an earlier submission never matches.
    """
    if job["parser_job_id"]:
        return parser_job_id == job["parser_job_id"]
    return attempt is not None and attempt == str(job["retry_count"])


def _queue_and_heartbeat(app: FastAPI) -> tuple[int, float | None]:
    """(jobs waiting for a worker, age in s of the freshest heartbeat or None)."""
    st = app.state
    marks = ",".join("?" * len(WORKER_STATUSES))
    with st.db.tx(write=False) as tx:
        depth = int(
            tx.scalar(f"SELECT COUNT(*) AS n FROM jobs WHERE status IN ({marks})", WORKER_STATUSES)
        )
        beat = tx.scalar("SELECT MAX(beat_at) AS b FROM worker_heartbeats")
    age = None if beat is None else max(0.0, (st.clock.now() - parse_iso(beat)).total_seconds())
    return depth, age


def _job_stats(app: FastAPI) -> Any:
    st = app.state
    with st.db.tx(write=False) as tx:
        return read_job_stats(tx, st.clock.now(), st.settings.heartbeat_stale_s)


def _probe(session_get: Any, url: str, headers: dict[str, str]) -> dict[str, Any]:
    try:
        resp = session_get(url, headers=headers, timeout=1.5)
    except Exception as exc:
        return {"status": "down", "error": type(exc).__name__}
    if 200 <= resp.status_code < 400:
        return {"status": "up"}
    return {"status": "down", "error": f"HTTP {resp.status_code}"}


def _health(app: FastAPI) -> dict[str, Any]:
    """Check every dependency for real (except under the health_lies fault)."""
    import requests

    st = app.state
    s: Settings = st.settings
    deps: dict[str, dict[str, Any]] = {}
    lies = "health_lies" in s.faults
    futures = {}
    if not lies:
        futures["parser"] = st.health_pool.submit(
            _probe, requests.get, f"{s.parser_url}/health", _auth(s.parser_api_key)
        )
        futures["embeddings"] = st.health_pool.submit(
            _probe, requests.get, f"{s.embeddings_url}/v1/models", _auth(s.embeddings_api_key)
        )
    started = time.perf_counter()
    try:
        with st.db.tx(write=False) as tx:
            tx.scalar("SELECT 1 AS one")
            beats = tx.all("SELECT worker_id, beat_at, restarts FROM worker_heartbeats")
        deps["database"] = {
            "status": "up",
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        }
        depth, _ = _queue_and_heartbeat(app)
        deps["queue"] = {"status": "up", "depth": depth}
        now = st.clock.now()
        ages = [max(0.0, (now - parse_iso(b["beat_at"])).total_seconds()) for b in beats]
        fresh = [a for a in ages if a <= s.heartbeat_stale_s]
        worker = {
            "status": "up" if fresh else "down",
            "heartbeat_age_s": round(min(ages), 3) if ages else None,
            "workers": len(fresh),
            "restarts": sum(int(b["restarts"] or 0) for b in beats),
        }
        if not fresh:
            worker["error"] = (
                "no worker heartbeat" if not ages else f"last heartbeat {min(ages):.1f} s ago"
            )
        deps["worker"] = worker
    except Exception as exc:
        deps["database"] = {"status": "down", "latency_ms": None, "error": type(exc).__name__}
        deps["worker"] = {
            "status": "down",
            "heartbeat_age_s": None,
            "workers": 0,
            "restarts": None,
            "error": "database down",
        }
        deps["queue"] = {"status": "down", "depth": None, "error": "database down"}
    for name, url in (("parser", s.parser_url), ("embeddings", s.embeddings_url)):
        result = {"status": "up"} if lies else futures[name].result()
        deps[name] = {**result, "url": url}
    healthy = all(d["status"] == "up" for d in deps.values())
    return {
        "status": "healthy" if healthy else "degraded",
        "checked_at": st.clock.iso(),
        "dependencies": deps,
    }


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}

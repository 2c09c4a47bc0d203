"""LlamaParse-compatible parser stand-in.

    POST /api/v1/parsing/upload                      multipart file (+ result_type, webhook_url,
                                                     webhook_signing_secret) -> {"id","status"}
    GET  /api/v1/parsing/job/{id}                    -> {"id","status","error_message"?}
    GET  /api/v1/parsing/job/{id}/result/markdown    -> {"markdown","job_metadata"}
    GET  /api/v1/parsing/job/{id}/result/text        -> {"text","job_metadata"}

Every route also answers under `/api/parsing/...` (the prefix the origin system used).
Text extraction is real (pypdf), runs in the background after the upload has answered, and
is deterministic: the same PDF always gives byte-identical markdown (with
`DOCSERVICE_STANDIN_JITTER` on, the same text with whitespace that varies from run to run). When a `webhook_url` was
given, the result is POSTed there signed with HMAC-SHA256 over the raw body.

With the `parser_mock` fault the stand-in behaves like the origin system's mock: it reports
itself as `mock-llamaparse`, its job ids start with `mock-parse-`, and the markdown carries a
`Generated at: <now>` line, so parsed-text digests change on every run.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import os
import threading
import urllib.error
import urllib.request
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

# FastAPI resolves route annotations from module globals, so these are module-level imports;
# this module is only imported when a parser app is created.
from fastapi import APIRouter, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse

from docservice.settings import STANDIN_PARSER_NAME
from docservice.standins._common import (
    CORRELATION_HEADER,
    StandinConfigError,
    StandinSettings,
    configure_json_logging,
    install_common,
    log_event,
    utc_now_iso,
)

SERVICE = "parser"
PARSER_NAME = STANDIN_PARSER_NAME
MOCK_PARSER_NAME = "mock-llamaparse"
PARSER_VERSION = "2025-08-01"
MOCK_JOB_PREFIX = "mock-parse-"
PREFIXES = ("/api/v1/parsing", "/api/parsing")
WEBHOOK_TRIES = 3
WEBHOOK_BACKOFF_S = 0.25  # doubled after each failed try
MAX_JOBS = 10_000  # oldest finished jobs are forgotten beyond this, bounding memory


class UnreadablePdf(ValueError):
    """The upload is not a PDF pypdf can read."""


def check_pdf(data: bytes) -> int:
    """Raise UnreadablePdf unless `data` is a readable PDF; returns its page count."""
    if not data:
        raise UnreadablePdf("the uploaded file is empty")
    # The PDF header may legally sit anywhere in the first 1024 bytes.
    if b"%PDF-" not in data[:1024]:
        raise UnreadablePdf("the uploaded file is not a PDF (no %PDF- header)")
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadablePdf("the PDF is encrypted")
        pages = len(reader.pages)
    except UnreadablePdf:
        raise
    except Exception as exc:  # pypdf raises many types for damaged files
        raise UnreadablePdf(f"the PDF cannot be read: {type(exc).__name__}: {exc}") from None
    if pages == 0:
        raise UnreadablePdf("the PDF has no pages")
    return pages


def _clean(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def extract_pages(data: bytes) -> list[str]:
    """Each page's text, extracted by pypdf, with line endings and trailing spaces normalised."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        reader.decrypt("")
    return [_clean(page.extract_text() or "") for page in reader.pages]


def pages_to_markdown(pages: list[str]) -> str:
    """One `# Page N` heading per page followed by its text; ends with a single newline."""
    blocks = [f"# Page {n}\n\n{text}".rstrip("\n") for n, text in enumerate(pages, start=1)]
    return "\n\n".join(blocks) + "\n"


def whitespace_noise(markdown: str) -> str:
    """`markdown` as a real parser may return it on another run: the same text with trailing
    spaces, CRLF line ends and doubled blank lines scattered at random. Text normalisation
    (docservice's, and the smoke suite's line diff) removes all of it."""
    import random

    rng = random.Random()
    out = []
    for line in markdown.split("\n"):
        if rng.random() < 0.2:
            line += " " * rng.randint(1, 3)
        out.append(line)
        if not line.strip() and rng.random() < 0.3:
            out.append("")
    return ("\r\n" if rng.random() < 0.5 else "\n").join(out)


def sign(secret: str, body: bytes) -> str:
    """hex(HMAC-SHA256(secret, raw body)): the `X-Webhook-Signature` value."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass
class ParseJob:
    """One parse job; lives in the app's JobStore for the lifetime of the process."""

    id: str
    filename: str
    created_at: str
    correlation_id: str | None
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    status: str = "PENDING"
    pages: int = 0
    markdown: str | None = None
    text: str | None = None
    error_message: str | None = None
    webhook_attempts: int = 0
    webhook_delivered: bool = False
    webhook_last_status: int | None = None
    webhook_finished: bool = False  # True once no further delivery attempt will be made


class JobStore:
    """Jobs by id, bounded; owned by one app instance (kept on app.state, not a global)."""

    def __init__(self, limit: int = MAX_JOBS) -> None:
        self._jobs: OrderedDict[str, ParseJob] = OrderedDict()
        self._limit = limit

    def add(self, job: ParseJob) -> None:
        """Remember `job`, forgetting the oldest finished jobs beyond the limit."""
        self._jobs[job.id] = job
        while len(self._jobs) > self._limit:
            oldest_id = next(iter(self._jobs))
            if self._jobs[oldest_id].status == "PENDING":
                break
            del self._jobs[oldest_id]

    def get(self, job_id: str) -> ParseJob | None:
        """The job with this id, or None."""
        return self._jobs.get(job_id)

    def counts(self) -> dict[str, int]:
        """Number of jobs per status."""
        out = {"PENDING": 0, "SUCCESS": 0, "ERROR": 0}
        for job in self._jobs.values():
            out[job.status] = out.get(job.status, 0) + 1
        return out


@dataclass(frozen=True)
class ParserSettings:
    """Parser-specific settings from the environment."""

    webhook_timeout_s: float = 5.0
    max_upload_bytes: int = 50 * 1024 * 1024

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ParserSettings:
        """Read `DOCSERVICE_STANDIN_WEBHOOK_TIMEOUT_S` and `DOCSERVICE_STANDIN_MAX_UPLOAD_MB`."""
        env = os.environ if environ is None else environ
        values: dict[str, float] = {}
        for name, default in (
            ("DOCSERVICE_STANDIN_WEBHOOK_TIMEOUT_S", 5.0),
            ("DOCSERVICE_STANDIN_MAX_UPLOAD_MB", 50.0),
        ):
            raw = env.get(name, "").strip()
            try:
                values[name] = float(raw) if raw else default
            except ValueError:
                values[name] = -1.0
            if not 0 < values[name] < 1e6:
                raise StandinConfigError(
                    f"{name}={raw!r} must be a positive number, e.g. {default:g}"
                )
        return cls(
            webhook_timeout_s=values["DOCSERVICE_STANDIN_WEBHOOK_TIMEOUT_S"],
            max_upload_bytes=int(values["DOCSERVICE_STANDIN_MAX_UPLOAD_MB"] * 1024 * 1024),
        )


def deliver_webhook(
    job: ParseJob, payload: dict[str, Any], timeout_s: float, logger: logging.Logger
) -> None:
    """POST `payload` to the job's webhook: signed, bounded timeout, up to 3 tries.

    Retries on connection errors, timeouts, 429 and 5xx; any other answer is final (a 401
    will not turn into a 200 by asking again). Runs in a worker thread.
    """
    try:
        _deliver(job, payload, timeout_s, logger)
    finally:
        job.webhook_finished = True


def _deliver(
    job: ParseJob, payload: dict[str, Any], timeout_s: float, logger: logging.Logger
) -> None:
    import time

    assert job.webhook_url is not None
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": f"{PARSER_NAME}/{PARSER_VERSION}"}
    if job.webhook_secret:
        headers["X-Webhook-Signature"] = sign(job.webhook_secret, body)
    if job.correlation_id:
        headers[CORRELATION_HEADER] = job.correlation_id
    for attempt in range(1, WEBHOOK_TRIES + 1):
        job.webhook_attempts = attempt
        status: int | None = None
        error: str | None = None
        request = urllib.request.Request(job.webhook_url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out
            error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        job.webhook_last_status = status
        delivered = status is not None and 200 <= status < 300
        log_event(
            logger,
            "webhook",
            correlation_id=job.correlation_id,
            job_id=job.id,
            attempt=attempt,
            http_status=status,
            error=error,
            signed=bool(job.webhook_secret),
        )
        if delivered:
            job.webhook_delivered = True
            return
        retryable = status is None or status == 429 or status >= 500
        if not retryable or attempt == WEBHOOK_TRIES:
            return
        time.sleep(WEBHOOK_BACKOFF_S * 2 ** (attempt - 1))


def create_app(environ: Mapping[str, str] | None = None) -> FastAPI:
    """The parser stand-in app, configured from `environ` (default: os.environ)."""
    # Imported before the app answers /health (the launcher's readiness probe), not inside the
    # first upload: under load the import takes a second or more, enough for a short stall
    # timeout to report the first document stuck at its first stage.
    import pypdf  # noqa: F401

    settings = StandinSettings.from_env(environ)
    psettings = ParserSettings.from_env(environ)
    logger = configure_json_logging(SERVICE)
    parser_name = MOCK_PARSER_NAME if settings.parser_mock else PARSER_NAME
    app = FastAPI(title="LlamaParse-compatible parser stand-in", docs_url=None, redoc_url=None)
    app.state.jobs = JobStore()
    app.state.tasks = set()  # strong references, so running jobs are not garbage-collected

    def detail(http_status: int, message: str, **extra: Any) -> JSONResponse:
        return JSONResponse({"detail": message, **extra}, status_code=http_status)

    install_common(
        app,
        settings,
        logger,
        unauthorized=lambda: detail(401, "Invalid authentication credentials"),
    )

    def job_metadata(job: ParseJob) -> dict[str, Any]:
        return {
            "job_pages": job.pages,
            "parser_name": parser_name,
            "parser_version": PARSER_VERSION,
        }

    async def process(job: ParseJob, data: bytes) -> None:
        # Realistic pacing: one latency unit per page plus one, times the slow factor.
        await asyncio.sleep(settings.delay_s(1 + job.pages))
        try:
            pages = await asyncio.to_thread(extract_pages, data)
        except Exception as exc:
            job.status = "ERROR"
            job.error_message = f"text extraction failed: {type(exc).__name__}: {exc}"
        else:
            markdown = pages_to_markdown(pages)
            if settings.jitter:
                markdown = whitespace_noise(markdown)
            if settings.parser_mock:
                # Deliberately non-deterministic, like the origin system's mock.
                markdown = f"Generated at: {utc_now_iso()}\n\n{markdown}"
            job.pages = len(pages)
            job.text = "\n\n".join(pages) + "\n"
            job.markdown = markdown
            job.status = "SUCCESS"
        log_event(
            logger,
            "parsed",
            correlation_id=job.correlation_id,
            job_id=job.id,
            status=job.status,
            pages=job.pages,
            markdown_sha256=hashlib.sha256(job.markdown.encode()).hexdigest()
            if job.markdown
            else None,
            error=job.error_message,
        )
        if not job.webhook_url:
            return
        payload: dict[str, Any] = {"job_id": job.id, "status": job.status}
        if job.status == "SUCCESS":
            payload.update(md=job.markdown, pages=job.pages)
        else:
            payload["error_message"] = job.error_message
        payload["parser"] = {"name": parser_name, "version": PARSER_VERSION}
        # A daemon thread, not the loop's executor: a receiver that hangs must never keep the
        # process alive after SIGTERM (the launcher promises no stray processes).
        threading.Thread(
            target=deliver_webhook,
            args=(job, payload, psettings.webhook_timeout_s, logger),
            name=f"webhook-{job.id}",
            daemon=True,
        ).start()

    router = APIRouter()

    @router.post("/upload")
    async def upload(
        request: Request,
        file: Annotated[UploadFile, File()],
        result_type: Annotated[str, Form()] = "markdown",
        webhook_url: Annotated[str | None, Form()] = None,
        webhook_signing_secret: Annotated[str | None, Form()] = None,
    ) -> Any:
        """Accept a PDF and start parsing it in the background."""
        cid = request.state.correlation_id
        job_id = (MOCK_JOB_PREFIX if settings.parser_mock else "") + str(uuid.uuid4())
        job = ParseJob(
            id=job_id,
            filename=file.filename or "upload.pdf",
            created_at=utc_now_iso(),
            correlation_id=cid,
            webhook_url=webhook_url or None,
            webhook_secret=webhook_signing_secret or None,
        )
        data = await file.read(psettings.max_upload_bytes + 1)
        try:
            if len(data) > psettings.max_upload_bytes:
                raise UnreadablePdf(f"the file exceeds {psettings.max_upload_bytes} bytes")
            if result_type not in ("markdown", "text"):
                raise UnreadablePdf(f"result_type {result_type!r} is not supported")
            job.pages = check_pdf(data)
        except UnreadablePdf as exc:
            # Refused, but the job is kept as ERROR so a status poll explains why.
            job.status = "ERROR"
            job.error_message = str(exc)
            app.state.jobs.add(job)
            log_event(logger, "upload_rejected", correlation_id=cid, job_id=job_id, reason=str(exc))
            return detail(400, f"Unsupported or unreadable file: {exc}", id=job_id, status="ERROR")
        app.state.jobs.add(job)
        log_event(
            logger,
            "upload",
            correlation_id=cid,
            job_id=job_id,
            filename=job.filename,
            bytes=len(data),
            pages=job.pages,
            webhook=bool(job.webhook_url),
        )
        task = asyncio.create_task(process(job, data))
        app.state.tasks.add(task)
        task.add_done_callback(app.state.tasks.discard)
        return {"id": job_id, "status": "PENDING"}

    def find(job_id: str) -> ParseJob | JSONResponse:
        job = app.state.jobs.get(job_id)
        if job is None:
            return detail(404, f"Job {job_id} not found")
        return job

    @router.get("/job/{job_id}")
    async def job_status(job_id: str) -> Any:
        """The job's status (PENDING, SUCCESS or ERROR)."""
        job = find(job_id)
        if not isinstance(job, ParseJob):
            return job
        body: dict[str, Any] = {"id": job.id, "status": job.status}
        if job.error_message:
            body["error_message"] = job.error_message
        if job.webhook_url:
            body["webhook"] = {
                "attempts": job.webhook_attempts,
                "delivered": job.webhook_delivered,
                "last_status": job.webhook_last_status,
                "finished": job.webhook_finished,
            }
        return body

    def result(job_id: str, kind: str) -> Any:
        job = find(job_id)
        if not isinstance(job, ParseJob):
            return job
        if job.status != "SUCCESS":
            return detail(
                409 if job.status == "PENDING" else 400,
                f"Job {job_id} has no result (status {job.status})",
                status=job.status,
            )
        value = job.markdown if kind == "markdown" else job.text
        return {kind: value, "job_metadata": job_metadata(job)}

    @router.get("/job/{job_id}/result/markdown")
    async def result_markdown(job_id: str) -> Any:
        """The parsed markdown: `# Page N` then the page's text, for every page."""
        return result(job_id, "markdown")

    @router.get("/job/{job_id}/result/text")
    async def result_text(job_id: str) -> Any:
        """The parsed plain text, pages separated by a blank line."""
        return result(job_id, "text")

    for prefix in PREFIXES:
        app.include_router(router, prefix=prefix)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness plus the parser identity (no auth, no latency)."""
        return {
            "status": "ok",
            "service": parser_name,
            "parser": {"name": parser_name, "version": PARSER_VERSION},
            "mock": settings.parser_mock,
            "jobs": app.state.jobs.counts(),
            "latency_ms": settings.latency_ms,
            "slow_factor": settings.slow_factor,
        }

    return app

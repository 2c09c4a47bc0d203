"""Structured JSON logs and correlation IDs.

Every log line is one JSON object carrying the correlation ID of the request or job being
handled (a contextvar, so threads and asyncio tasks each see their own). Secrets are never
passed to the logger; callers log names and lengths, not values.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

CORRELATION_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "docservice_correlation_id", default=None
)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def correlation_from_headers(x_correlation_id: str | None, traceparent: str | None) -> str:
    """The request's correlation ID: X-Correlation-ID, else a W3C trace-id, else a new UUID4.

    A header value with characters outside ``[A-Za-z0-9._:-]`` (or over 128 chars) is not
    trusted, so it can never inject into a log line or a response header.
    """
    if x_correlation_id and _SAFE_ID.match(x_correlation_id.strip()):
        return x_correlation_id.strip()
    if traceparent:
        m = _TRACEPARENT.match(traceparent.strip().lower())
        if m and m.group(1) != "ff" and m.group(2) != "0" * 32 and m.group(3) != "0" * 16:
            return m.group(2)
    return str(uuid.uuid4())


@contextmanager
def correlation(cid: str | None) -> Iterator[None]:
    """Run a block with ``cid`` as the correlation ID of every log line it writes."""
    token = CORRELATION_ID.set(cid)
    try:
        yield
    finally:
        CORRELATION_ID.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, service, logger, msg, correlation_id, extra fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            ),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
            "correlation_id": CORRELATION_ID.get(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def setup_logging(service: str, level: str = "INFO") -> None:
    """Send every logger (ours and uvicorn's) to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # The API writes its own access line with the correlation ID; uvicorn's would be a duplicate.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def log(logger: logging.Logger, msg: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``msg`` with structured ``fields`` merged into the JSON line."""
    logger.log(level, msg, extra={"fields": fields})

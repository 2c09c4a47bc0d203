"""The parser webhook's JSON body, checked field by field before anything is applied.

A correctly signed body can still carry wrong types (the parser is another service); each is
refused with a message naming the field instead of failing deep inside the database write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_PAGES_FIELD = 10_000_000


class PayloadError(ValueError):
    """The body is not the documented webhook object; the message names the field."""


@dataclass(frozen=True)
class ParserCallback:
    """One parser callback: which parser job, its outcome and (on SUCCESS) its result."""

    parser_job_id: str
    status: str
    markdown: str
    pages: int | None
    parser_name: str
    parser_version: str
    error_message: str | None


def _opt_str(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is not None and not isinstance(value, str):
        raise PayloadError(f"'{key}' must be a string or null, got {type(value).__name__}")
    return value


def check_payload(payload: Any) -> ParserCallback:
    """The callback in ``payload`` (parsed JSON), or PayloadError naming the bad field."""
    if not isinstance(payload, dict):
        raise PayloadError("webhook body must be a JSON object")
    job_id = payload.get("job_id")
    if not isinstance(job_id, str) or not job_id.strip():
        raise PayloadError("'job_id' (the parser's job id) must be a non-empty string")
    status = payload.get("status")
    if not isinstance(status, str):
        raise PayloadError("'status' must be a string (SUCCESS or ERROR)")
    pages = payload.get("pages")
    if pages is not None and (
        isinstance(pages, bool) or not isinstance(pages, int) or not 0 <= pages <= MAX_PAGES_FIELD
    ):
        raise PayloadError(f"'pages' must be an integer from 0 to {MAX_PAGES_FIELD} or null")
    parser = payload.get("parser")
    if parser is not None and not isinstance(parser, dict):
        raise PayloadError(f"'parser' must be an object or null, got {type(parser).__name__}")
    parser = parser or {}
    return ParserCallback(
        parser_job_id=job_id,
        status=status.upper(),
        markdown=_opt_str(payload, "md") or "",
        pages=pages,
        parser_name=_opt_str(parser, "name") or "",  # the API falls back to its setting
        parser_version=_opt_str(parser, "version") or "unknown",
        error_message=_opt_str(payload, "error_message"),
    )

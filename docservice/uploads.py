"""Request bodies read under a bound: the upload's multipart stream and the webhook's body.

Nothing here reads a body whole before counting it. The upload's file part is written to a
temporary file next to where it will be stored while its size and sha256 are counted; the
moment the count passes the limit the request is refused and the partial file removed, so
neither memory nor disk grows with what a client sends. Content-Length is checked first when
there is one, but a body without it (chunked) is bounded just the same.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

#: multipart headers, boundaries and the metadata field on top of the file's own bytes
ENVELOPE_BYTES = 256 * 1024
MAX_FIELDS = 8
#: nesting depth and size of the optional ``metadata`` JSON string
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 32


class BodyError(Exception):
    """A body refused while it was read: ``status``, error ``code`` and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def too_large(what: str, limit: int) -> BodyError:
    """413 ``file_too_large`` (the upload) or ``payload_too_large`` (anything else)."""
    code = "file_too_large" if what == "file" else "payload_too_large"
    return BodyError(413, code, f"{what} exceeds the limit of {limit} bytes")


def declared_length(raw: str | None) -> int | None:
    """A Content-Length header as an int, or None when absent or not a number."""
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() else None


async def read_bounded(stream: AsyncIterator[bytes], limit: int, what: str) -> bytes:
    """The whole body, refused with 413 as soon as it grows past ``limit`` bytes."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise too_large(what, limit)
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class ReceivedUpload:
    """The file part on disk (``path``, a temporary name) and the form's other fields."""

    path: Path | None = None
    filename: str | None = None
    size: int = 0
    head: bytes = b""
    sha256: str = ""
    metadata: str | None = None
    fields: int = 0
    _hash: object = field(default_factory=hashlib.sha256, repr=False)

    def discard(self) -> None:
        """Remove the temporary file (idempotent)."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


class _PartState:
    def __init__(self) -> None:
        self.header_field = b""
        self.header_value = b""
        self.disposition = b""
        self.name: str | None = None
        self.filename: str | None = None
        self.value = bytearray()
        self.file: object = None


async def receive_upload(
    content_type: str,
    stream: AsyncIterator[bytes],
    *,
    max_file_bytes: int,
    tmp_dir: Path,
    check_filename: Callable[[str | None], str],
) -> ReceivedUpload:
    """Parse a multipart/form-data stream with one ``file`` part and an optional ``metadata``.

    The file part goes to ``tmp_dir`` while counted; over ``max_file_bytes`` -> 413 at once.
    Other fields are kept in memory up to MAX_METADATA_BYTES each, at most MAX_FIELDS.
    Raises BodyError (temporary file removed) for anything malformed or too large.
    """
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, parse_options_header

    mime, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise BodyError(
            400, "invalid_request", "the upload must be multipart/form-data with a boundary"
        )
    result = ReceivedUpload()
    part = _PartState()
    failure: list[BodyError] = []
    tmp_dir.mkdir(parents=True, exist_ok=True)

    def fail(err: BodyError) -> None:
        if not failure:
            failure.append(err)
        raise err

    def on_part_begin() -> None:
        nonlocal part
        part = _PartState()
        result.fields += 1
        if result.fields > MAX_FIELDS:
            fail(BodyError(400, "invalid_request", f"more than {MAX_FIELDS} form fields"))

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part.header_value += data[start:end]

    def on_header_end() -> None:
        if part.header_field.lower() == b"content-disposition":
            part.disposition = part.header_value
        part.header_field, part.header_value = b"", b""

    def on_headers_finished() -> None:
        _, options = parse_options_header(part.disposition)
        part.name = options.get(b"name", b"").decode("utf-8", "replace") or None
        raw_filename = options.get(b"filename")
        part.filename = None if raw_filename is None else raw_filename.decode("utf-8", "replace")
        if part.name not in ("file", "metadata"):
            fail(
                BodyError(
                    400,
                    "invalid_request",
                    f"unknown form field {part.name!r}; the upload takes 'file' and 'metadata'",
                )
            )
        if part.name == "metadata" and result.metadata is not None:
            fail(BodyError(400, "invalid_request", "more than one 'metadata' part"))
        if part.name == "file":
            if result.path is not None:
                fail(BodyError(400, "invalid_request", "more than one 'file' part"))
            result.filename = check_filename(part.filename)
            result.path = tmp_dir / f".upload-{uuid.uuid4().hex}.tmp"
            part.file = open(result.path, "wb")  # noqa: SIM115 - closed in on_part_end/finally

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if part.file is not None:
            result.size += len(chunk)
            if result.size > max_file_bytes:
                fail(too_large("file", max_file_bytes))
            if len(result.head) < 8:
                result.head = (result.head + chunk)[:8]
            result._hash.update(chunk)  # type: ignore[attr-defined]
            part.file.write(chunk)  # type: ignore[attr-defined]
            return
        part.value += chunk
        if len(part.value) > MAX_METADATA_BYTES:
            if part.name == "metadata":
                fail(
                    BodyError(
                        400,
                        "invalid_metadata",
                        f"'metadata' is over {MAX_METADATA_BYTES} bytes",
                    )
                )
            fail(BodyError(400, "invalid_request", f"field {part.name!r} is too long"))

    def on_part_end() -> None:
        if part.file is not None:
            part.file.close()  # type: ignore[attr-defined]
            part.file = None
        elif part.name == "metadata":
            result.metadata = bytes(part.value).decode("utf-8", "replace")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
    )
    total, limit = 0, max_file_bytes + ENVELOPE_BYTES
    try:
        async for chunk in stream:
            total += len(chunk)
            if total > limit:
                raise too_large("file", max_file_bytes)
            try:
                parser.write(chunk)
            except FormParserError:
                if failure:
                    raise failure[0] from None
                raise BodyError(
                    400, "invalid_request", "malformed multipart/form-data body"
                ) from None
            except BodyError:
                raise
        parser.finalize()
    except BaseException:
        if part.file is not None:
            part.file.close()  # type: ignore[attr-defined]
        result.discard()
        raise
    if part.file is not None:  # the stream ended inside the file part
        part.file.close()  # type: ignore[attr-defined]
        result.discard()
        raise BodyError(400, "invalid_request", "multipart body ended inside the 'file' part")
    result.sha256 = result._hash.hexdigest()  # type: ignore[attr-defined]
    return result


def metadata_json(raw: str | None) -> str | None:
    """The metadata string re-serialised (sorted keys), or BodyError 400 ``invalid_metadata``.

    Depth is measured before parsing, so a deeply nested value is refused without recursion.
    """
    import json

    if raw is None or not raw.strip():
        return None
    if len(raw.encode()) > MAX_METADATA_BYTES:
        raise BodyError(400, "invalid_metadata", f"'metadata' is over {MAX_METADATA_BYTES} bytes")
    depth, deepest, in_string, escaped = 0, 0, False, False
    for ch in raw:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_METADATA_DEPTH:
                raise BodyError(
                    400,
                    "invalid_metadata",
                    f"'metadata' is nested deeper than {MAX_METADATA_DEPTH} levels",
                )
        elif ch in "]}":
            depth -= 1
    try:
        return json.dumps(json.loads(raw), sort_keys=True)
    except (ValueError, RecursionError):
        raise BodyError(400, "invalid_metadata", "'metadata' must be a JSON string") from None

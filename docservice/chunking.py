"""Parse validation (normalisation) and the ``markdown-simple`` chunker.

Both are pure functions of their input so the same document always yields the same text
digest, chunk texts and chunk IDs.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass

#: UUIDv5 namespace of chunk and document IDs (the origin system's chunk namespace)
NAMESPACE = uuid.UUID("6c8a1e6e-1f0b-4aa8-9f0a-1a7c2e6f2b42")


def sha256_hex(data: str | bytes) -> str:
    """Hex sha256 of bytes, or of a str encoded as UTF-8."""
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def document_id_for(user: str, file_sha256: str) -> str:
    """Deterministic document ID: UUIDv5 of ``"{user}:{sha256}"``."""
    return str(uuid.uuid5(NAMESPACE, f"{user}:{file_sha256}"))


def normalise_markdown(markdown: str) -> str:
    """Canonical text: NFC, ``\\n`` line ends, no trailing spaces, at most one blank line in a
    row, no leading/trailing blank lines, one final newline (empty string if no text)."""
    text = unicodedata.normalize("NFC", markdown).replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return text + "\n" if text.strip() else ""


@dataclass(frozen=True)
class Chunk:
    """One chunk of a document's normalised text."""

    chunk_id: str
    ordinal: int
    text: str
    sha256: str


def chunk_markdown(
    document_id: str, text: str, name: str, version: int, every_lines: int
) -> list[Chunk]:
    """Split at each ``#`` heading and every ``every_lines`` lines; drop blank chunks.

    chunk_id = UUIDv5(NAMESPACE, f"{document_id}:{name}:{version}:{ordinal}"), ordinals from 0.
    """
    pieces: list[list[str]] = []
    current: list[str] = []
    for line in text.split("\n"):
        if current and (line.startswith("#") or len(current) >= every_lines):
            pieces.append(current)
            current = []
        current.append(line)
    if current:
        pieces.append(current)
    chunks: list[Chunk] = []
    for lines in pieces:
        body = "\n".join(lines).strip("\n")
        if not body.strip():
            continue
        ordinal = len(chunks)
        cid = str(uuid.uuid5(NAMESPACE, f"{document_id}:{name}:{version}:{ordinal}"))
        chunks.append(Chunk(cid, ordinal, body, sha256_hex(body)))
    return chunks

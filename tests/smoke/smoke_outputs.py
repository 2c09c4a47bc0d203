"""Comparing a canary's outputs with the baseline's for meaning, not bytes (pure helpers).

Real embedding APIs return vectors that differ in the last float digits from call to call, and
a real parser's whitespace may vary: a byte digest turns that noise into a failed release.

* Embeddings: each chunk's vector is kept as an int8-quantised copy (``q8``: base64, scaled
  by its largest component, 1 byte per dimension) and compared with the baseline's by cosine
  similarity. Quantisation changes a 1536-dimension unit vector's direction by a cosine
  distance of about 1e-5, far below the tolerance (docs/decisions.md), while another model,
  other dimensions or another chunk's vector land near 0.
* Parsed text: compared by digest; when the digests differ, by a normalised line diff that
  names the first differing line (equal normalised text is whitespace noise, not drift).
"""

from __future__ import annotations

import base64
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

#: Characters of a line shown in a difference.
SHOWN = 120


def quantise(vector: Sequence[float]) -> str:
    """``vector`` as base64 int8 components, scaled so the largest magnitude is 127."""
    peak = max((abs(x) for x in vector), default=0.0)
    scale = 127.0 / peak if peak > 0 else 0.0
    return base64.b64encode(bytes(round(x * scale) & 0xFF for x in vector)).decode("ascii")


def dequantise(q8: str) -> list[int]:
    """The int8 components of a ``quantise`` result."""
    return [b - 256 if b > 127 else b for b in base64.b64decode(q8)]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two equally long vectors (0.0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def embedding_fingerprints(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per chunk, in chunk order: its text digest, its vector's dimensions and ``q8``.

    ``document`` is a document served with its vectors (``?include=vectors``: each entry of
    ``vectors`` carries ``embedding``). A chunk without a vector gets dimensions 0 and no q8.
    """
    by_chunk = {v["chunk_id"]: v.get("embedding") or [] for v in document["vectors"]}
    out = []
    for chunk in sorted(document["chunks"], key=lambda c: c["ordinal"]):
        vector = by_chunk.get(chunk["chunk_id"], [])
        out.append(
            {
                "chunk_sha256": chunk["sha256"],
                "dimensions": len(vector),
                "q8": quantise(vector) if vector else "",
            }
        )
    return out


def compare_embeddings(
    expected: Sequence[Mapping[str, Any]],
    observed: Sequence[Mapping[str, Any]],
    min_cosine: float,
    shown: int = 3,
) -> tuple[list[str], float | None]:
    """(problems, lowest similarity seen): chunk by chunk, in order, each observed vector
    against the baseline's. A problem names the chunk (ordinal and text digest), what was
    observed and the rule; beyond ``shown`` chunks one last problem counts the rest."""
    problems: list[str] = []
    if len(expected) != len(observed):
        problems.append(
            f"{len(observed)} embedded chunks, baseline {len(expected)} (rule: the same chunks)"
        )
    lowest: float | None = None
    for n, (want, got) in enumerate(zip(expected, observed, strict=False)):
        where = f"chunk {n} (sha256 {str(got['chunk_sha256'])[:12]})"
        if got["dimensions"] != want["dimensions"]:
            problems.append(
                f"{where}: {got['dimensions']} dimensions, baseline {want['dimensions']} "
                f"(rule: the baseline's dimensions)"
            )
            continue
        if not want["q8"] or not got["q8"]:
            problems.append(f"{where}: no vector (rule: every chunk has its vector)")
            continue
        similarity = cosine(dequantise(want["q8"]), dequantise(got["q8"]))
        lowest = similarity if lowest is None else min(lowest, similarity)
        if similarity < min_cosine:
            problems.append(
                f"{where}: cosine similarity {similarity:.6f} with the baseline's embedding; "
                f"rule: >= {min_cosine:g} (embedding_min_cosine)"
            )
    if len(problems) > shown:
        rest = len(problems) - shown
        low = f", lowest similarity {lowest:.6f}" if lowest is not None else ""
        problems = [*problems[:shown], f"and {rest} more chunk{'s' if rest > 1 else ''}{low}"]
    return problems, lowest


def normalise_lines(text: str) -> list[str]:
    """Text as compared: NFC, ``\\n`` line ends, no trailing spaces, runs of blank lines as
    one, no leading or trailing blank lines."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    joined = "\n".join(line.rstrip() for line in text.split("\n"))
    joined = re.sub(r"\n{3,}", "\n\n", joined).strip("\n")
    return joined.split("\n") if joined else []


def first_text_difference(expected: Sequence[str], observed: str) -> str | None:
    """Where the normalised ``observed`` text first differs from the baseline's normalised
    lines ``expected`` ("line N: expected ..., observed ..."), or None when they are equal."""
    got = normalise_lines(observed)
    for n, (want_line, got_line) in enumerate(zip(expected, got, strict=False), start=1):
        if want_line != got_line:
            return f"line {n}: expected {want_line[:SHOWN]!r}, observed {got_line[:SHOWN]!r}"
    if len(expected) != len(got):
        n = min(len(expected), len(got)) + 1
        want_line = expected[n - 1] if len(expected) >= n else "<end of text>"
        got_line = got[n - 1] if len(got) >= n else "<end of text>"
        return (
            f"line {n}: expected {want_line[:SHOWN]!r}, observed {got_line[:SHOWN]!r} "
            f"({len(got)} lines, baseline {len(expected)})"
        )
    return None

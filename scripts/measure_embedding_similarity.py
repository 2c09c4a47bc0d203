"""The figures behind the embedding tolerance (docs/decisions.md, ADR 25), reproducible:

    .venv/bin/python scripts/measure_embedding_similarity.py

For every chunk of the three fixtures (as docservice cuts them), the cosine similarity the
smoke canary would measure against the baseline's int8 copy when the target's vector is: the
same vector with the stand-in's jitter (real-service float noise), another model of the same
dimensions, the neighbouring chunk's vector; and what quantisation alone costs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "smoke"))

import smoke_outputs as so  # noqa: E402

from docservice.chunking import chunk_markdown, normalise_markdown  # noqa: E402
from docservice.standins._common import DEFAULT_JITTER  # noqa: E402
from docservice.standins.embeddings import embed_text, jittered  # noqa: E402
from docservice.standins.parser import extract_pages, pages_to_markdown  # noqa: E402


def q8(vec: np.ndarray) -> list[int]:
    return so.dequantise(so.quantise(vec.tolist()))


def main() -> None:
    figures: dict[str, list[float]] = {
        "jitter, float (no quantisation)": [],
        "jitter, as the canary measures it (both int8)": [],
        "quantisation alone": [],
        "another model, same dimensions": [],
        "the neighbouring chunk's vector": [],
    }
    for name in ("small.pdf", "medium.pdf", "large.pdf"):
        pages = extract_pages((ROOT / "fixtures" / name).read_bytes())
        text = normalise_markdown(pages_to_markdown(pages))
        chunks = chunk_markdown("doc", text, "markdown-simple", 1, 20)
        vectors = [embed_text(c.text, 1536, "text-embedding-3-small") for c in chunks]
        for n, (chunk, vec) in enumerate(zip(chunks, vectors, strict=True)):
            noisy = jittered(vec, DEFAULT_JITTER)
            other = embed_text(chunk.text, 1536, "text-embedding-ada-002")
            figures["jitter, float (no quantisation)"].append(
                float(np.dot(vec.astype(float), noisy.astype(float)))
            )
            figures["jitter, as the canary measures it (both int8)"].append(
                so.cosine(q8(vec), q8(noisy))
            )
            figures["quantisation alone"].append(so.cosine(q8(vec), vec.tolist()))
            figures["another model, same dimensions"].append(so.cosine(q8(vec), q8(other)))
            if n:
                figures["the neighbouring chunk's vector"].append(
                    so.cosine(q8(vectors[n - 1]), q8(vec))
                )
    for label, values in figures.items():
        print(f"{label:48s} n={len(values):3d} min={min(values):.7f} max={max(values):.7f}")


if __name__ == "__main__":
    main()

"""The smoke suite's comparisons for meaning (tests/smoke/smoke_outputs.py): embeddings by
cosine similarity within the tolerance, parsed text by a normalised line diff. Each detection
has a case where it fires and one where it does not."""

from __future__ import annotations

import pytest
from plugin_support import smoke_module

from docservice.standins.embeddings import embed_text, jittered

out = smoke_module("smoke_outputs")
MIN = 0.999
TEXTS = ["# Page 1\n\nThe first chunk.", "The second chunk, other words.", "# Page 2\n\nThird."]


def _doc(vectors: list[list[float]]) -> dict:
    """A document served with ?include=vectors: one chunk per vector."""
    return {
        "chunks": [
            {"chunk_id": f"c{n}", "ordinal": n, "sha256": f"{n:02d}" * 32}
            for n in range(len(vectors))
        ],
        "vectors": [{"chunk_id": f"c{n}", "embedding": v} for n, v in enumerate(vectors)],
    }


def _vectors(model: str = "text-embedding-3-small", dims: int = 1536) -> list[list[float]]:
    return [embed_text(t, dims, model).tolist() for t in TEXTS]


BASE = out.embedding_fingerprints(_doc(_vectors()))


def test_quantised_copy_keeps_the_direction():
    vec = _vectors()[0]
    assert out.cosine(out.dequantise(out.quantise(vec)), vec) > 0.99999
    assert len(out.quantise(vec)) == 2048  # 1536 bytes, base64


def test_float_noise_passes_and_is_measured():
    noisy = [jittered(embed_text(t), 5e-5).tolist() for t in TEXTS]
    problems, lowest = out.compare_embeddings(BASE, out.embedding_fingerprints(_doc(noisy)), MIN)
    assert problems == []
    assert 0.9999 < lowest < 1.0


def test_identical_vectors_measure_one():
    problems, lowest = out.compare_embeddings(BASE, BASE, MIN)
    assert problems == [] and lowest == pytest.approx(1.0)


def test_another_model_of_the_same_dimensions_fails_naming_chunk_and_similarity():
    other = out.embedding_fingerprints(_doc(_vectors("text-embedding-ada-002")))
    problems, lowest = out.compare_embeddings(BASE, other, MIN)
    assert len(problems) == 3
    assert problems[0].startswith("chunk 0 (sha256 000000000000): cosine similarity ")
    assert problems[0].endswith(
        "with the baseline's embedding; rule: >= 0.999 (embedding_min_cosine)"
    )
    assert abs(lowest) < 0.2


def test_other_dimensions_fail():
    short = out.embedding_fingerprints(_doc(_vectors(dims=768)))
    problems, _ = out.compare_embeddings(BASE, short, MIN)
    assert problems[0] == (
        "chunk 0 (sha256 000000000000): 768 dimensions, baseline 1536 "
        "(rule: the baseline's dimensions)"
    )


def test_another_chunks_vector_fails():
    vectors = _vectors()
    vectors[0], vectors[1] = vectors[1], vectors[0]
    problems, _ = out.compare_embeddings(BASE, out.embedding_fingerprints(_doc(vectors)), MIN)
    assert [p.split(":")[0] for p in problems] == [
        "chunk 0 (sha256 000000000000)",
        "chunk 1 (sha256 010101010101)",
    ]


def test_a_missing_chunk_or_vector_fails():
    fewer = out.embedding_fingerprints(_doc(_vectors()[:2]))
    problems, _ = out.compare_embeddings(BASE, fewer, MIN)
    assert problems == ["2 embedded chunks, baseline 3 (rule: the same chunks)"]
    doc = _doc(_vectors())
    doc["vectors"].pop()
    problems, _ = out.compare_embeddings(BASE, out.embedding_fingerprints(doc), MIN)
    assert problems == [
        "chunk 2 (sha256 020202020202): 0 dimensions, baseline 1536 (rule: the baseline's dimensions)"
    ]


def test_many_failing_chunks_are_summarised():
    many = [embed_text(f"chunk {n}").tolist() for n in range(8)]
    other = [embed_text(f"chunk {n}", model="other").tolist() for n in range(8)]
    problems, lowest = out.compare_embeddings(
        out.embedding_fingerprints(_doc(many)), out.embedding_fingerprints(_doc(other)), MIN
    )
    assert len(problems) == 4
    assert problems[-1] == f"and 5 more chunks, lowest similarity {lowest:.6f}"


BASE_TEXT = "# Page 1\n\nAlpha line\nBeta line\n\n# Page 2\n\nGamma\n"


def test_whitespace_noise_is_no_text_difference():
    noisy = "\r\n# Page 1  \r\n\r\n\r\nAlpha line \r\nBeta line\r\n\n\n\n# Page 2\n\nGamma   \n\n"
    assert out.first_text_difference(out.normalise_lines(BASE_TEXT), noisy) is None


def test_a_changed_line_is_named():
    changed = BASE_TEXT.replace("Beta line", "Beta lime")
    assert out.first_text_difference(out.normalise_lines(BASE_TEXT), changed) == (
        "line 4: expected 'Beta line', observed 'Beta lime'"
    )


def test_added_or_missing_lines_are_named():
    lines = out.normalise_lines(BASE_TEXT)
    assert out.first_text_difference(lines, BASE_TEXT + "Delta\n") == (
        "line 9: expected '<end of text>', observed 'Delta' (9 lines, baseline 8)"
    )
    assert out.first_text_difference(lines, "Generated at: now\n\n" + BASE_TEXT).startswith(
        "line 1: expected '# Page 1', observed 'Generated at: now'"
    )

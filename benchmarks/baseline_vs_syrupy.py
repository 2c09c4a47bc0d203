"""Verify a ~6 MB document summary (20,000 chunk records) against its baseline: ours vs syrupy.

One command, from the repository root::

    .venv/bin/python benchmarks/baseline_vs_syrupy.py [--chunks 20000] [--repeat 7]

Each contestant does what one assertion costs in a test run, starting from the file on disk:

* ours: read + parse + validate the baseline file (``storage.load``), then
  ``compare.verify`` as the ``baseline`` fixture calls it in compare mode (structural
  comparison under the stored rules, normalising only non-JSON values, reported values
  redacted); on a mismatch also format the failure lines;
* syrupy (amber, its default): read the ``.ambr`` snapshot file, serialise the observation
  with ``AmberDataSerializer``, compare the texts; on a mismatch also build the diff lines
  pytest shows (``AmberSnapshotExtension.diff_lines``);
* syrupy (JSON extension): the same with ``JSONSnapshotExtension``'s serialiser and file;
* ``json.loads`` of our baseline file: the floor (parsing the file at all).

Cases: the observation matches; one field of one chunk differs. Reported: the median of
``--repeat`` runs (after one warm-up), and the ratios the targets are about (ours >= 5x faster
than syrupy, within 10x of ``json.loads``).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")
WORDS = [
    "ingest",
    "parse",
    "chunk",
    "embed",
    "vector",
    "store",
    "worker",
    "queue",
    "status",
    "report",
    "page",
    "section",
]


def build_summary(chunks: int) -> dict[str, Any]:
    """A document summary shaped like docservice's GET /api/v2/documents/{id}, scaled up."""
    doc_id = str(uuid.uuid5(NAMESPACE, "benchmark-document"))
    records = []
    for i in range(chunks):
        chunk_id = str(uuid.uuid5(NAMESPACE, f"{doc_id}/markdown-simple@1/{i}"))
        text = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(6))
        records.append(
            {
                "chunk_id": chunk_id,
                "ordinal": i,
                "page": i // 40 + 1,
                "sha256": hashlib.sha256(f"chunk {i}".encode()).hexdigest(),
                "tokens": 120 + (i * 37) % 180,
                "preview": text,
                "vector_sha256": hashlib.sha256(f"vector {i}".encode()).hexdigest(),
            }
        )
    return {
        "document_id": doc_id,
        "filename": "large.pdf",
        "sha256": hashlib.sha256(b"large.pdf").hexdigest(),
        "bytes": 1_843_211,
        "status": "complete",
        "parser": {"name": "llamaparse-standin", "version": "2025-08-01"},
        "chunker": {"name": "markdown-simple", "version": "1"},
        "embedding": {"model": "text-embedding-3-small", "dimensions": 1536},
        "chunk_count": chunks,
        "vector_count": chunks,
        "created_at": "2026-11-28T12:00:00.123456Z",
        "chunks": records,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    from syrupy.data import Snapshot, SnapshotCollection
    from syrupy.extensions.amber import AmberSnapshotExtension
    from syrupy.extensions.amber.serializer import AmberDataSerializer
    from syrupy.extensions.json import JSONSnapshotExtension

    from pytest_deployverify.atomic import write_atomic
    from pytest_deployverify.baseline import compare, learn, storage
    from pytest_deployverify.baseline.model import BaselineFile, Observation
    from pytest_deployverify.baseline.redaction import Redactor

    summary = build_summary(args.chunks)
    changed = copy.deepcopy(summary)
    changed["chunks"][args.chunks // 2]["tokens"] += 1

    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        # ours: a baseline file as record mode writes it (two recordings, created_at volatile)
        second = copy.deepcopy(summary)
        second["created_at"] = "2026-11-28T12:00:05.654321Z"
        value, rules = learn.learn([summary, second])
        ours_path = tmpdir / "test_summary.json"
        baseline = BaselineFile(
            nodeid="tests/smoke/test_docs.py::test_summary",
            observations={"summary": Observation("summary", value, rules)},
            plugin_version="bench",
            recorded_from="local",
            recorded_at="2026-11-28T12:00:00Z",
            record_runs=2,
        )
        write_atomic(ours_path, storage.dumps(baseline.to_dict()))

        # syrupy: an amber file and a JSON-extension file holding the same observation
        amber_path = tmpdir / "test_docs.ambr"
        collection = SnapshotCollection(location=str(amber_path))
        collection.add(Snapshot(name="test_summary", data=AmberDataSerializer.serialize(summary)))
        AmberDataSerializer.write_file(collection)
        amber_ext = AmberSnapshotExtension()
        json_ext = JSONSnapshotExtension()
        json_path = tmpdir / "test_summary.json.snap"
        json_path.write_text(json_ext.serialize(summary), encoding="utf-8")

        def ours(observed: dict[str, Any]) -> list[str]:
            stored = storage.load(ours_path)
            assert stored is not None
            obs = stored.observations["summary"]
            # what the fixture does in compare mode (reported values redacted as reported)
            comparison = compare.verify(
                obs.value, observed, obs.rules, redactor=Redactor(["not-in-the-data"])
            )
            diffs = comparison.diffs
            return compare.format_differences(diffs) if diffs else []

        def ours_compare_only(observed: dict[str, Any], expected: dict[str, Any]) -> int:
            return len(compare.Comparison(rules).run(expected, observed))

        def syrupy_amber(observed: dict[str, Any]) -> list[str]:
            stored = AmberDataSerializer.read_file(str(amber_path)).get("test_summary").data
            received = amber_ext.serialize(observed)
            if amber_ext.matches(serialized_data=received, snapshot_data=stored):
                return []
            return list(amber_ext.diff_lines(received, stored))

        def syrupy_json(observed: dict[str, Any]) -> list[str]:
            stored = json_path.read_text(encoding="utf-8")
            received = json_ext.serialize(observed)
            if json_ext.matches(serialized_data=received, snapshot_data=stored):
                return []
            return list(json_ext.diff_lines(received, stored))

        def loads() -> Any:
            return json.loads(ours_path.read_text(encoding="utf-8"))

        # sanity: everyone agrees on match / mismatch, and ours names the field
        assert ours(summary) == [] and syrupy_amber(summary) == [] and syrupy_json(summary) == []
        lines = ours(changed)
        assert len(lines) == 1 and f"$.chunks[{args.chunks // 2}].tokens" in lines[0], lines
        assert syrupy_amber(changed) and syrupy_json(changed)

        size_mb = ours_path.stat().st_size / 1e6
        doc_mb = len(json.dumps(summary)) / 1e6
        cases = {}
        for case, observed in (("match", summary), ("one-field mismatch", changed)):
            contestants = {
                "ours": lambda o=observed: ours(o),
                "ours (comparison only)": lambda o=observed: ours_compare_only(o, value),
                "syrupy amber": lambda o=observed: syrupy_amber(o),
                "syrupy json": lambda o=observed: syrupy_json(o),
                "json.loads": loads,
            }
            cases[case] = interleaved(contestants, args.repeat)

    print(
        f"document summary: {args.chunks} chunk records, {doc_mb:.1f} MB as compact JSON; "
        f"baseline file {size_mb:.1f} MB (indented); {args.repeat} interleaved rounds"
    )
    ok = True
    for case, samples in cases.items():
        print(f"\n{case}: median (min) per contestant")
        for name, times in samples.items():
            print(
                f"  {name:24s} {statistics.median(times) * 1000:8.1f} ms "
                f"({min(times) * 1000:6.1f} ms)"
            )
        # ratios per round: the contestants of one round ran back to back, under the same load
        rounds = range(args.repeat)
        vs_amber = statistics.median(
            samples["syrupy amber"][i] / samples["ours"][i] for i in rounds
        )
        vs_json = statistics.median(samples["syrupy json"][i] / samples["ours"][i] for i in rounds)
        vs_loads = statistics.median(samples["ours"][i] / samples["json.loads"][i] for i in rounds)
        print(f"  ours vs syrupy amber (default): {vs_amber:5.1f}x faster (target >= 5x)")
        print(f"  ours vs syrupy json extension:  {vs_json:5.1f}x faster (target >= 5x)")
        print(f"  ours vs json.loads of the file: {vs_loads:5.1f}x its time (target <= 10x)")
        ok = ok and min(vs_amber, vs_json) >= 5 and vs_loads <= 10
    print("\nall targets met" if ok else "\nnot every target met (see the lines above)")


def interleaved(contestants: dict[str, Callable[[], Any]], repeat: int) -> dict[str, list[float]]:
    """Seconds per contestant per round; each round runs every contestant once, in turn."""
    for fn in contestants.values():
        fn()  # warm-up: imports, caches
    samples: dict[str, list[float]] = {name: [] for name in contestants}
    for _ in range(repeat):
        for name, fn in contestants.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return samples


if __name__ == "__main__":
    main()

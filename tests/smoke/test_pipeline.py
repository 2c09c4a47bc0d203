"""Does the deployment behave like the local baseline? One canary per fixture size, followed
through the whole status model, with its outputs compared to what the baseline recorded.

The origin system's jobs stalled silently, its buffers stayed empty and its reports still said
"100% passed": here every stage must be reached in order, chunks must exist, every chunk must
have its vector, and the outputs must be the baseline's: identities and chunk digests byte for
byte, the parsed text by digest or else line by line once normalised, and each chunk's
embedding by cosine similarity (real embedding APIs return different last digits on every
call; smoke_outputs.py).
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from datetime import datetime, timezone

import pytest
from smoke_outputs import (
    compare_embeddings,
    embedding_fingerprints,
    first_text_difference,
    normalise_lines,
)
from smoke_support import PIPELINE, SCHEMAS, parse_ts


@pytest.mark.canary
@pytest.mark.critical
@pytest.mark.parametrize("fixture", ["small.pdf", "medium.pdf", "large.pdf"])
def test_canary_walks_the_pipeline_like_the_baseline(
    fixture,
    upload_document,
    canary_pdf,
    api,
    json_schema,
    baseline,
    validate_run,
    smoke_env,
    record_property,
):
    """Upload -> every status in order -> complete; outputs the baseline's (see module doc)."""
    # upload answer, job as last polled, document: a null status is drift, not a stall
    pdf = canary_pdf(fixture)
    run = validate_run(upload_document(pdf))
    run.raise_for_outcome()
    assert run.status_sequence == list(PIPELINE), (
        f"status sequence out of order or incomplete; rule: exactly {' -> '.join(PIPELINE)}; "
        f"{run.describe()}"
    )

    job = api.get(f"/api/v2/jobs/{run.job_id}")
    json_schema.validate(job, schema=f"{SCHEMAS}/job.schema.json")
    events = api.get(f"/api/v2/jobs/{run.job_id}/events")
    json_schema.validate(events, schema=f"{SCHEMAS}/events.schema.json")
    document = api.get(f"/api/v2/documents/{run.document_id}", params={"include": "vectors,text"})
    json_schema.validate(document, schema=f"{SCHEMAS}/document.schema.json")
    doc, progress = document.json(), job.json()["progress"]

    # Completion invariants (the origin RFC's e2e test): chunks exist, every chunk has its
    # vector, the progress counters agree with the stored rows.
    problems = []
    if doc["chunk_count"] < 1:
        problems.append(f"chunk_count {doc['chunk_count']} (rule: > 0)")
    if doc["vector_count"] != doc["chunk_count"]:
        problems.append(
            f"vector_count {doc['vector_count']} != chunk_count {doc['chunk_count']} "
            f"(rule: one vector per chunk)"
        )
    if {v["chunk_id"] for v in doc["vectors"]} != {c["chunk_id"] for c in doc["chunks"]}:
        problems.append("vectors do not belong to exactly the document's chunks")
    elif [v["chunk_id"] for v in doc["vectors"]] != [c["chunk_id"] for c in doc["chunks"]]:
        problems.append("vectors are not served in chunk order (rule: the chunks' order)")
    if progress["chunks_total"] != doc["chunk_count"]:
        problems.append(
            f"progress.chunks_total {progress['chunks_total']} != {doc['chunk_count']} chunks "
            "stored"
        )
    if progress["chunks_done"] != doc["chunk_count"]:
        problems.append(
            f"progress.chunks_done {progress['chunks_done']} != {doc['chunk_count']} chunks stored"
        )
    if progress["embeddings_done"] != doc["vector_count"]:
        problems.append(
            f"progress.embeddings_done {progress['embeddings_done']} != "
            f"{doc['vector_count']} vectors stored"
        )
    if not problems:  # a document without its outputs has no figures to compare
        problems += _figures_disagree(doc, events.json()["events"], pdf)
    assert not problems, "; ".join(problems) + f"; {run.describe()}"

    # Everything that must be deterministic for the same PDF: compared with the baseline.
    baseline.check("statuses", {"outcome": run.outcome, "sequence": run.status_sequence})
    # Recorded in full, compared below for meaning (the rules compare bytes).
    text = {"sha256": doc["parsed_text_sha256"], "lines": normalise_lines(doc["parsed_text"])}
    embeddings = embedding_fingerprints(doc)
    baseline.check("parsed_text", text, ignore=["$.sha256", "$.lines"])
    baseline.check("embeddings", embeddings, ignore=["$[*]"])
    if not baseline.recording:
        found, lowest = _meaning_problems(baseline, text, doc, embeddings, smoke_env)
        problems += found
        # the measured figure, in junit XML: how close the noisiest chunk came
        record_property("embedding_lowest_cosine", lowest)
    try:
        baseline.check(
            "outputs",
            {
                "parser": doc["parser"],
                "chunker": doc["chunker"],
                "chunk_count": doc["chunk_count"],
                "chunk_sha256": [c["sha256"] for c in doc["chunks"]],
                "embedding": doc["embedding"],
                "vector_count": doc["vector_count"],
            },
        )
    except AssertionError as exc:
        problems.append(str(exc))
    assert not problems, "; ".join(problems) + f"; {run.describe()}"


def _figures_disagree(doc, events, pdf):
    """The service's own figures must agree: what each event says its stage did, the
    document it produced, and the file that was uploaded (a stage reporting one thing and
    storing another is how silent corruption looks from outside)."""
    detail = {e["status"]: e["detail"] or {} for e in events}
    chunk_count = doc["chunk_count"]
    embedding, chunker = doc["embedding"], doc["chunker"]
    expected = {
        ("uploaded", "filename"): pdf.name,
        ("uploaded", "bytes"): pdf.stat().st_size,
        ("parse_validated", "parsed_text_sha256"): doc["parsed_text_sha256"],
        ("chunking", "chunker"): f"{chunker['name']}@{chunker['version']}",
        ("chunks_stored", "chunks"): chunk_count,
        ("embedding_queued", "dimensions"): embedding["dimensions"],
        ("embeddings_stored", "vectors"): doc["vector_count"],
        ("parsed", "parser_job_id"): detail.get("parse_queued", {}).get("parser_job_id"),
    }
    problems = [
        f"event {status!r} says {key}={detail.get(status, {}).get(key)!r}, expected {want!r}"
        for (status, key), want in expected.items()
        if detail.get(status, {}).get(key) != want
    ]
    # The document records the model the embeddings service says it served: the requested
    # one, possibly with a suffix (a version, or a stand-in's `-standin`), never another.
    requested = detail.get("embedding_queued", {}).get("model")
    if not (isinstance(requested, str) and str(embedding["model"]).startswith(requested)):
        problems.append(
            f"event 'embedding_queued' requested model={requested!r}, the vectors were served "
            f"by {embedding['model']!r}; rule: the served model is the requested one"
        )
    batches = detail.get("embedding_queued", {}).get("batches")
    if not (isinstance(batches, int) and 1 <= batches <= chunk_count):
        problems.append(f"event 'embedding_queued' says batches={batches!r}; rule: 1..chunks")
    if detail.get("parsed", {}).get("via") not in ("webhook", "webhook-early", "poll"):
        problems.append(f"event 'parsed' via {detail.get('parsed', {}).get('via')!r}")
    digest = hashlib.sha256(doc["parsed_text"].encode()).hexdigest()
    if digest != doc["parsed_text_sha256"]:
        problems.append(
            f"parsed_text_sha256 {doc['parsed_text_sha256']} is not the digest of the parsed "
            f"text ({digest})"
        )
    ordinals = [c["ordinal"] for c in doc["chunks"]]
    if ordinals != list(range(len(ordinals))):
        problems.append(f"chunk ordinals {ordinals[:10]}; rule: 0, 1, 2, ... in order")
    seqs = [e["seq"] for e in events]
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"event seq {seqs[:12]}; rule: 1, 2, 3, ... in order, no gaps")
    for v in doc["vectors"]:  # each vector's digest is of its float32 bytes, as stored
        vector = v.get("embedding") or []
        digest = hashlib.sha256(struct.pack(f"<{len(vector)}f", *vector)).hexdigest()
        if digest != v["sha256"]:
            problems.append(
                f"vector of chunk {v['chunk_id']}: sha256 {v['sha256']} is not the digest of "
                f"its embedding's float32 bytes ({digest})"
            )
            break
    data = pdf.read_bytes()
    uploaded = {
        "filename": pdf.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
    problems += [
        f"document {key} {doc[key]!r} is not the uploaded file's ({want!r})"
        for key, want in uploaded.items()
        if doc[key] != want
    ]
    return [f"figures disagree: {p}" for p in problems]


def _meaning_problems(baseline, text, doc, embeddings, smoke_env):
    """(problems, lowest cosine similarity): the parsed text and each chunk's embedding
    against the baseline's, for meaning."""
    problems = []
    recorded_text = baseline.recorded("parsed_text")
    if text["sha256"] != recorded_text["sha256"]:
        where = first_text_difference(recorded_text["lines"], doc["parsed_text"])
        if where:
            problems.append(
                f"parsed text differs from the baseline's at {where} (parsed_text_sha256 "
                f"{text['sha256']}, baseline {recorded_text['sha256']}); rule: the same text "
                f"once normalised"
            )
    vector_problems, lowest = compare_embeddings(
        baseline.recorded("embeddings"), embeddings, smoke_env.embedding_min_cosine
    )
    problems += [f"embeddings: {p}" for p in vector_problems]
    return problems, lowest


@pytest.mark.canary
def test_same_document_twice_gives_the_same_document(upload_document, canary_pdf, validate_run):
    """Deduplication: uploading identical bytes again answers 200 with the same ids."""
    path = canary_pdf("small.pdf")
    first = validate_run(upload_document(path))
    first.raise_for_outcome()
    again = validate_run(upload_document(path, expect_terminal=False))
    # The second run is not followed, so only its upload answer is evidence (its describe()
    # would report an outcome it never had).
    assert again.upload_status_code == 200 and again.duplicate, (
        f"second upload of identical bytes answered HTTP {again.upload_status_code} with "
        f"duplicate={again.duplicate}, document {again.document_id} / job {again.job_id} "
        f"(correlation ID {again.correlation_id}); rule: 200 with duplicate=true and the first "
        f"upload's document {first.document_id} / job {first.job_id}; first: {first.describe()}"
    )
    assert (again.document_id, again.job_id) == (first.document_id, first.job_id), (
        f"duplicate upload named document {again.document_id} / job {again.job_id}; rule: the "
        f"first upload's document {first.document_id} / job {first.job_id} "
        f"(correlation ID {again.correlation_id})"
    )


@pytest.mark.canary
@pytest.mark.critical
def test_server_timestamps_are_sane(upload_document, canary_pdf, budgets, validate_run):
    """Server time within a small skew of ours, monotonic along the status sequence, and no
    stage impossibly fast (the origin system "processed" everything in one minute and showed
    6 August on 16 August)."""
    before = datetime.now(timezone.utc)
    run = validate_run(upload_document(canary_pdf("small.pdf")))
    after = datetime.now(timezone.utc)
    run.raise_for_outcome()
    stamps = [(e.status, parse_ts(e.at)) for e in run.statuses]
    missing = [s for s, t in stamps if t is None]
    assert not missing, f"statuses without a server timestamp: {missing}; {run.describe()}"

    skew = budgets.clock_skew_s
    first_status, first_at = stamps[0]
    assert (before - first_at).total_seconds() <= skew and (
        first_at - after
    ).total_seconds() <= skew, (
        f"server clock: {first_status!r} stamped {first_at.isoformat()} while the test's clock "
        f"read {before.isoformat()} .. {after.isoformat()}; rule: within {skew:g} s "
        f"(SMOKE_CLOCK_SKEW_S); {run.describe()}"
    )
    # the job resource's own stamps, as last polled, lie in the same window
    outside = {
        key: run.job[key]
        for key in ("created_at", "updated_at")
        if not (
            (stamp := parse_ts(run.job[key])) is not None
            and (before - stamp).total_seconds() <= skew
            and (stamp - after).total_seconds() <= skew
        )
    }
    assert not outside, (
        f"job timestamps {outside} outside the test's clock {before.isoformat()} .. "
        f"{after.isoformat()}; rule: within {skew:g} s (SMOKE_CLOCK_SKEW_S); {run.describe()}"
    )
    backwards = [
        f"{a[0]} {a[1].isoformat()} > {b[0]} {b[1].isoformat()}"
        for a, b in itertools.pairwise(stamps)
        if b[1] < a[1]
    ]
    assert not backwards, (
        f"timestamps go backwards along the sequence: {backwards}; rule: monotonic; "
        f"{run.describe()}"
    )
    total = (stamps[-1][1] - stamps[0][1]).total_seconds()
    parse = run.stage_durations.get("parse_queued")
    assert total >= budgets.min_pipeline_s and (parse or 0.0) >= budgets.min_parse_s, (
        f"impossibly fast: whole pipeline {total:.6f} s, parse stage {parse} s; rule: at "
        f"least {budgets.min_pipeline_s:g} s end to end and {budgets.min_parse_s:g} s to parse "
        f"(stage durations {run.stage_durations}); {run.describe()}"
    )


@pytest.mark.canary
def test_correlation_id_travels_through_the_pipeline(
    upload_document, canary_pdf, correlation_id, api, json_schema, validate_run
):
    """The test's correlation ID comes back on the upload, is stored on the job and appears on
    every event of the job's trail (worker stages included)."""
    run = validate_run(upload_document(canary_pdf("small.pdf")))
    run.raise_for_outcome()
    response = api.get(f"/api/v2/jobs/{run.job_id}/events")
    json_schema.validate(response, schema=f"{SCHEMAS}/events.schema.json")
    events = response.json()["events"]
    observed = {
        "upload response": (run.upload_response or {}).get("correlation_id"),
        "job": (run.job or {}).get("correlation_id"),
        **{f"event {e['seq']} ({e['status']})": e.get("correlation_id") for e in events},
    }
    wrong = {where: cid for where, cid in observed.items() if cid != correlation_id}
    assert not wrong, (
        f"correlation ID {correlation_id} lost: {wrong}; rule: the upload's "
        f"X-Correlation-ID on the response, the job and every event; {run.describe()}"
    )

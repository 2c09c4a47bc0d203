"""Sample verdict dicts and evidence (per docs/architecture.md "Verdict JSON") for the report
renderers' unit tests. Not a test module. The failing sample hides a secret in several places
so every renderer's redaction is exercised."""

from __future__ import annotations

import copy
from typing import Any

from pytest_deployverify.evidence import Exchange, Finding, TestEvidence

SECRET = "s3cr3t-token-Zq8vX2"
CID_OK = "0f8e2c1a-1111-4b2c-9d3e-aaaaaaaaaaaa"
CID_FAIL = "7d41a9b0-2222-4c3d-8e4f-bbbbbbbbbbbb"

_TARGET = {
    "name": "staging",
    "base_url": "https://docs.staging.example.com",
    "protected": True,
    "launched": False,
    "deployment_version": {"version": "2.4.1", "git_revision": "abc123def4567890"},
    # the smoke suite's configured parts (pyproject components), as the verdict carries them
    "components": [
        {"name": "api", "label": "API"},
        {"name": "worker", "label": "Background worker"},
        {"name": "parser", "label": "Document parser"},
        {"name": "embeddings", "label": "Embeddings service"},
        {"name": "database", "label": "Database"},
        {"name": "monitoring", "label": "Monitoring"},
    ],
}
_BASELINE = {
    "dir": "baselines",
    "checksum": "9" * 64,
    "files": 3,
    "recorded_from": "local",
    "recorded_at": "2026-11-27T10:00:00.000000Z",
    "deployment_version": {"version": "2.4.1", "git_revision": "abc123def4567890"},
}


def _component(name: str, outcome: str, observed: Any, message: str) -> dict[str, Any]:
    return {
        "id": f"tests/smoke/test_health.py::test_health::component:{name}",
        "nodeid": "tests/smoke/test_health.py::test_health",
        "name": f"component:{name}",
        "kind": "component",
        "outcome": outcome,
        "critical": True,
        "observed": observed,
        "expected": None,
        "rule": "health dependency status == ok",
        "path": None,
        "message": message,
        "correlation_ids": [CID_OK],
    }


def _timing(
    name: str, group: str, base: list[float], targ: list[float], outcome: str, ratio: float
) -> dict[str, Any]:
    return {
        "name": name,
        "group": group,
        "outcome": outcome,
        "rule": "ratio <= 1.2 at 95% confidence",
        "reason": f"target/baseline ratio {ratio:.2f}",
        "baseline": {"n": len(base), "median": sorted(base)[len(base) // 2], "samples": base},
        "target": {"n": len(targ), "median": sorted(targ)[len(targ) // 2], "samples": targ},
        "ratio": ratio,
        "ratio_ci": [ratio * 0.9, ratio * 1.1],
        "confidence": 0.95,
        "allowed_ratio": 1.2,
        "p_value": 0.01 if outcome == "fail" else 0.6,
    }


def passing_verdict() -> dict[str, Any]:
    """A clean pass: every component checked but monitoring, no mismatch, timings OK."""
    return {
        "schema_version": 1,
        "verdict": "pass",
        "recommendation": "promote",
        "reason": "All 3 tests and 9 checks passed; timings within 1.2x of the baseline.",
        "started_at": "2026-11-28T12:00:00.000000Z",
        "finished_at": "2026-11-28T12:01:00.000000Z",
        "target": copy.deepcopy(_TARGET),
        "baseline": copy.deepcopy(_BASELINE),
        "counts": {
            "tests": 3,
            "passed": 3,
            "failed": 0,
            "errors": 0,
            "skipped": 0,
            "checks": 9,
            "checks_failed": 0,
            "checks_inconclusive": 0,
        },
        "checks": [
            _component("api", "pass", {"status": "healthy"}, "GET /health answered 200"),
            _component(
                "worker", "pass", {"status": "ok", "heartbeat_age_s": 1.2}, "heartbeat 1.2 s old"
            ),
            _component("parser", "pass", {"status": "ok"}, "parser reachable"),
            _component("embeddings", "pass", {"status": "ok"}, "embeddings reachable"),
            _component("database", "pass", {"status": "ok", "latency_ms": 2}, "database answered"),
            {
                "id": "tests/smoke/test_upload.py::test_upload::upload_response",
                "nodeid": "tests/smoke/test_upload.py::test_upload",
                "name": "upload_response",
                "kind": "baseline",
                "outcome": "pass",
                "critical": False,
                "observed": None,
                "expected": None,
                "rule": "equal on stable fields; volatile fields keep their shape",
                "path": None,
                "message": "",
                "correlation_ids": [CID_OK],
            },
        ],
        "tests": [
            {
                "nodeid": "tests/smoke/test_health.py::test_health",
                "outcome": "passed",
                "critical": True,
                "markers": ["critical", "nondestructive"],
                "duration": 0.12,
                "correlation_ids": [CID_OK],
                "message": "",
                "skip_reason": "",
            },
            {
                "nodeid": "tests/smoke/test_upload.py::test_upload",
                "outcome": "passed",
                "critical": False,
                "markers": ["canary"],
                "duration": 1.5,
                "correlation_ids": [CID_OK],
                "message": "",
                "skip_reason": "",
            },
        ],
        "timings": [
            _timing(
                "upload.accept",
                "own",
                [0.10, 0.11, 0.12, 0.10, 0.13],
                [0.11, 0.12, 0.11, 0.12, 0.10],
                "pass",
                1.02,
            ),
            _timing(
                "pipeline.total", "own", [1.1, 1.2, 1.0, 1.3], [1.2, 1.1, 1.2, 1.3], "pass", 1.05
            ),
            _timing("parser.call", "external", [0.3, 0.31, 0.29], [0.3, 0.33, 0.32], "pass", 1.04),
        ],
        "baseline_accounting": {
            "verified": ["test_upload.json::upload_response"],
            "mismatched": [],
            "missing": [],
            "not_verified": [],
            "unused_files": [],
            "record_mode": False,
        },
        "cleanup": [
            {
                "nodeid": "tests/smoke/test_upload.py::test_upload",
                "document_id": "doc-1",
                "ok": True,
                "status": 204,
                "error": None,
            }
        ],
        "alerts": [],
        "rollback": None,
        "reports": {
            "html": "reports/report.html",
            "summary": "reports/summary.md",
            "events": "reports/events.jsonl",
            "verdict": "reports/verdict.json",
        },
    }


def failing_verdict() -> dict[str, Any]:
    """Fail: a baseline mismatch, a performance regression and a critical failure (worker
    down). A secret hides in a message, an observed value and a cleanup error."""
    v = passing_verdict()
    v.update(
        verdict="fail",
        recommendation="roll_back",
        reason="Critical test test_health failed: the worker is down; 1 baseline mismatch; upload.accept 1.9x slower.",
    )
    v["counts"] = {
        "tests": 3,
        "passed": 1,
        "failed": 2,
        "errors": 0,
        "skipped": 0,
        "checks": 10,
        "checks_failed": 3,
        "checks_inconclusive": 1,
    }
    v["checks"][1] = _component(
        "worker", "fail", {"status": "down", "heartbeat_age_s": 412.0}, "no heartbeat for 412 s"
    )
    v["checks"] += [
        {
            "id": "tests/smoke/test_upload.py::test_upload::document@$.chunk_count",
            "nodeid": "tests/smoke/test_upload.py::test_upload",
            "name": "document",
            "kind": "baseline",
            "outcome": "fail",
            "critical": False,
            "observed": 0,
            "expected": 4,
            "rule": "equal",
            "path": "$.chunk_count",
            "message": f"chunk_count differs (auth was Bearer {SECRET})",
            "correlation_ids": [CID_FAIL],
        },
        {
            "id": "tests/smoke/test_upload.py::test_upload::document@$.embedding.model",
            "nodeid": "tests/smoke/test_upload.py::test_upload",
            "name": "document",
            "kind": "baseline",
            "outcome": "fail",
            "critical": False,
            "observed": {"model": "mock-embed", "token": SECRET},
            "expected": {"model": "text-embedding-3-small"},
            "rule": "equal",
            "path": "$.embedding",
            "message": "embedding model differs",
            "correlation_ids": [CID_FAIL],
        },
    ]
    v["tests"][0].update(
        outcome="failed",
        message=f"AssertionError: worker is down\nheaders: Authorization: Bearer {SECRET}",
    )
    v["tests"][0]["correlation_ids"] = [CID_FAIL]
    v["tests"].append(
        {
            "nodeid": "tests/smoke/test_upload.py::test_slow",
            "outcome": "failed",
            "critical": False,
            "markers": ["perf"],
            "duration": 3.0,
            "correlation_ids": [],
            "message": "timing regression",
            "skip_reason": "",
        }
    )
    v["timings"][0] = _timing(
        "upload.accept",
        "own",
        [0.10, 0.11, 0.12, 0.10, 0.13],
        [0.19, 0.21, 0.2, 0.22, 0.18],
        "fail",
        1.9,
    )
    v["timings"][2] = _timing(
        "parser.call", "external", [0.3, 0.31, 0.29], [0.3, 0.36], "inconclusive", 1.1
    )
    v["baseline_accounting"]["mismatched"] = ["test_upload.json::document"]
    v["baseline_accounting"]["not_verified"] = ["test_webhook.json::callback"]
    v["cleanup"].append(
        {
            "nodeid": "tests/smoke/test_upload.py::test_upload",
            "document_id": "doc-2",
            "ok": False,
            "status": 500,
            "error": f"token={SECRET} rejected",
        }
    )
    return v


def failing_evidence() -> dict[str, TestEvidence]:
    """Evidence for the failing sample: request logs, a pipeline timeline, a leaked secret."""
    ev = TestEvidence(
        nodeid="tests/smoke/test_upload.py::test_upload", outcome="passed", markers=["canary"]
    )
    ev.add_correlation_id(CID_FAIL)
    ev.exchanges = [
        Exchange(
            "POST", "/api/v2/upload", 202, 41.5, CID_FAIL, started_at="2026-11-28T12:00:01.000000Z"
        ),
        Exchange("GET", f"/api/v2/jobs/j1?token={SECRET}", 200, 8.0, CID_FAIL),
        Exchange("GET", "/api/v2/jobs/j1", 503, 9.0, CID_FAIL, attempt=2),
    ]
    ev.runs = [
        {
            "filename": "small.pdf",
            "document_id": "doc-2",
            "job_id": "j1",
            "correlation_id": CID_FAIL,
            "outcome": "stalled",
            "final_status": "embedding_queued",
            "statuses": [
                {"status": "uploaded", "at": "2026-11-28T12:00:01.000000Z", "source": "events"},
                {"status": "parse_queued", "at": "2026-11-28T12:00:01.250000Z", "source": "events"},
                {
                    "status": "embedding_queued",
                    "at": "2026-11-28T12:00:02.500000Z",
                    "source": "events",
                },
            ],
        }
    ]
    ev.findings = [
        Finding(
            check="document",
            outcome="fail",
            rule="equal",
            observed=0,
            expected=4,
            path="$.chunk_count",
        )
    ]
    health = TestEvidence(
        nodeid="tests/smoke/test_health.py::test_health", outcome="failed", markers=["critical"]
    )
    health.add_correlation_id(CID_FAIL)
    health.message = f"Bearer {SECRET}"
    return {ev.nodeid: ev, health.nodeid: health}

"""Every test writes one ``test`` line to events.jsonl; ``EventStream.emit_test`` spells that
line out by hand (issue 20). It must be byte for byte the line the generic path writes
(``emit_redacted("test", event_for_test(...))``), for every kind of evidence."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_deployverify.evidence import Finding, TestEvidence
from pytest_deployverify.report.events import EventStream, event_for_test, read_events

SECRET = "s3cr3t-value-42"

CASES = [
    TestEvidence(nodeid="t.py::test_plain", outcome="passed", duration=0.00123456),
    TestEvidence(nodeid="t.py::test_zero"),
    TestEvidence(nodeid="", outcome="passed"),
    TestEvidence(nodeid=f"t.py::test_x[{SECRET}]", outcome="passed", markers=["critical", "slow"]),
    TestEvidence(
        nodeid='t.py::test_odd["quote\\back\tslash\u00e9\u2603\x01"]',
        outcome="failed",
        when_failed="setup",
        message="plain text without an E line\nsecond line",
        duration=12.345678,
    ),
    TestEvidence(
        nodeid="t.py::test_y",
        outcome="failed",
        when_failed="call",
        correlation_ids=["cid-1", f"cid-{SECRET}", 'cid-"q"'],
        message=f"E   assert 'token={SECRET}' == 'x'\nAuthorization: Bearer abcdefghijkl",
        findings=[
            Finding(check="a", outcome="pass", rule="r"),
            Finding(check="b", outcome="fail", rule="r"),
            Finding(check="c", outcome="error", rule="r"),
            Finding(check="d", outcome="inconclusive", rule="r"),
        ],
        duration=1e-9,
    ),
    TestEvidence(
        nodeid="t.py::test_skip",
        outcome="skipped",
        skip_reason="Skipped: password=hunter22 is not set",
        duration=3.0,
    ),
    TestEvidence(nodeid="t.py::test_inf", outcome="error", duration=float("inf")),
    TestEvidence(nodeid="t.py::test_nan", outcome="error", duration=float("nan")),
]


def _lines(path: Path) -> list[str]:
    # the time differs between two lines written one after the other: the rest may not
    return [
        re.sub(r'"at": "[^"]*"', '"at": "T"', line)
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


@pytest.mark.parametrize("secrets", [[], [SECRET]], ids=["no-secrets", "secret"])
def test_the_test_line_is_the_generic_line(tmp_path: Path, secrets: list[str]) -> None:
    fast = EventStream(tmp_path / "fast.jsonl", run_id='run-"1"')
    generic = EventStream(tmp_path / "generic.jsonl", run_id='run-"1"')
    for ev in CASES:
        fast.emit_test(ev, secrets)
        generic.emit_redacted("test", event_for_test(ev, secrets))
    fast.close()
    generic.close()
    assert _lines(tmp_path / "fast.jsonl") == _lines(tmp_path / "generic.jsonl")
    assert len(_lines(tmp_path / "fast.jsonl")) == len(CASES)


def test_the_test_line_is_redacted_and_counts_checks(tmp_path: Path) -> None:
    stream = EventStream(tmp_path / "e.jsonl", run_id="r1")
    for ev in CASES:
        stream.emit_test(ev, [SECRET])
    stream.close()
    text = (tmp_path / "e.jsonl").read_text(encoding="utf-8")
    assert SECRET not in text and "hunter22" not in text and "abcdefghijkl" not in text
    events = read_events(tmp_path / "e.jsonl")
    assert [e["seq"] for e in events] == list(range(1, len(CASES) + 1))
    by_id = {e["nodeid"]: e for e in events}
    failing = by_id["t.py::test_y"]
    assert (failing["checks"], failing["checks_failed"]) == (4, 2)
    assert failing["message"].startswith("assert 'token=")
    assert by_id["t.py::test_x[[REDACTED]]"]["critical"] is True
    assert by_id["t.py::test_plain"]["critical"] is False
    assert by_id["t.py::test_plain"]["duration"] == 0.0012
    assert by_id["t.py::test_plain"]["when_failed"] is None
    assert by_id["t.py::test_skip"]["message"].startswith("Skipped: password=")
    assert {e["run"] for e in events} == {"r1"}
    # every line is valid JSON on its own (NaN and infinity as the json module writes them)
    assert all(json.loads(line) for line in text.splitlines())

"""Evidence crosses from xdist workers to the controller as JSON: nothing may be lost."""

from __future__ import annotations

from dataclasses import fields

from pytest_deployverify.evidence import CleanupResult, Exchange, Finding, TestEvidence


def full_evidence() -> TestEvidence:
    return TestEvidence(
        nodeid="t.py::test_a",
        outcome="failed",
        when_failed="call",
        markers=["critical"],
        correlation_ids=["cid-1"],
        findings=[
            Finding(
                check="c", outcome="fail", rule="r", observed={"a": [1]}, path="$.a", replay="curl"
            )
        ],
        exchanges=[Exchange("GET", "/x", 200, 1.5, "cid-1")],
        runs=[{"outcome": "complete"}],
        timings={"t": [0.1, 0.2]},
        timing_groups={"t": "own"},
        timing_plans={"t": {"min_samples": 5, "max_samples": 20, "look_every": 5}},
        reference_timings={"t": [0.12, 0.13]},
        cleanup=[CleanupResult("d1", "a.pdf", "cid-1", "failed", "HTTP 405", 405)],
        message="E   assert 1 == 2",
        skip_reason="",
        duration=0.25,
        replays=[{"request": "GET /x", "status": 500, "reason": "answered 500", "command": "c"}],
    )


def test_every_field_survives_the_round_trip() -> None:
    ev = full_evidence()
    # compare=False marks what stays in the process that made it (the replay's request
    # records hold the auth header and bodies: never serialised)
    assert set(ev.to_dict()) == {f.name for f in fields(TestEvidence) if f.compare}
    assert {f.name for f in fields(TestEvidence) if not f.compare} == {
        "sent",
        "exchanges_before_teardown",
    }
    assert TestEvidence.from_json(ev.to_json()) == ev


def test_a_changed_field_is_not_lost() -> None:
    ev = full_evidence()
    back = TestEvidence.from_json(ev.to_json())
    back.cleanup[0].result = "deleted"
    assert back != ev  # the comparison above would notice a dropped or altered field

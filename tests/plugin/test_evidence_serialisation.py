"""Evidence crosses from xdist workers to the controller as JSON: nothing may be lost."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from pytest_deployverify.evidence import CleanupResult, Exchange, Finding, TestEvidence
from pytest_deployverify.redact import redact_value


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


def test_a_plain_test_sends_only_what_differs_from_the_defaults() -> None:
    ev = TestEvidence(nodeid="t.py::test_plain", outcome="passed", duration=0.001)
    data = json.loads(ev.to_json())
    assert data == {"nodeid": "t.py::test_plain", "outcome": "passed", "duration": 0.001}
    assert TestEvidence.from_json(ev.to_json()) == ev
    # a field at its default is left out; the nodeid never is, even when empty
    assert TestEvidence.from_json(TestEvidence(nodeid="").to_json()) == TestEvidence(nodeid="")


SECRET = "s3cr3t-value-42"


@pytest.mark.parametrize(
    "ev",
    [
        TestEvidence(nodeid=f"t.py::test_x[{SECRET}]", outcome="passed", markers=["critical"]),
        TestEvidence(
            nodeid="t.py::test_y",
            outcome="failed",
            when_failed="call",
            correlation_ids=["cid-1"],
            message=f"E   assert 'token={SECRET}' == 'x'\nAuthorization: Bearer abcdefghijkl",
        ),
        TestEvidence(nodeid="t.py::test_z", outcome="skipped", skip_reason=f"no {SECRET} here"),
        full_evidence(),
    ],
    ids=["secret-in-nodeid", "secret-in-message", "secret-in-skip-reason", "full"],
)
def test_redacted_evidence_is_the_redaction_walk_over_every_field(ev: TestEvidence) -> None:
    # a test without requests or checks takes a shorter path: its result must be the walk's
    shown = ev.redacted([SECRET])
    assert shown == redact_value(ev.to_dict(), [SECRET])
    assert SECRET not in json.dumps(shown)


def test_redacted_evidence_shares_what_needed_no_redacting() -> None:
    """The copy the session keeps for its outputs holds only what redaction changed: the
    rest is the (then final) evidence's own, so a session does not keep each test twice."""
    from pytest_deployverify.evidence import NO_ITEMS

    ev = full_evidence()
    ev.findings.append(Finding(check="leak", outcome="fail", rule="r", observed=f"x {SECRET}"))
    shown = ev.redacted([SECRET])
    assert shown == redact_value(ev.to_dict(), [SECRET])
    kept, leaked = shown["findings"]
    assert kept is vars(ev.findings[0]) and shown["timings"] is ev.timings
    assert leaked is not vars(ev.findings[1]) and SECRET in ev.findings[1].observed
    # the evidence is final from here: its empty lists are the shared one, which refuses
    assert ev.findings[0].correlation_ids is NO_ITEMS
    with pytest.raises(TypeError, match="final"):
        ev.findings[0].correlation_ids.append("cid-2")


def test_evidence_redaction_says_whether_it_changed_anything() -> None:
    """A test whose evidence holds nothing to redact: ``redaction`` says so (the session
    keeps no copy, ``SessionState.keep_shown``) and ``as_shown`` is what ``redacted`` gives;
    with something to redact, the redacted copy."""
    clean = full_evidence()
    shown, changed = clean.redaction([SECRET])
    assert not changed and shown == clean.as_shown() == redact_value(clean.to_dict(), [])
    assert clean.redacted([SECRET]) == shown

    leaky = full_evidence()
    leaky.message = f"E   token {SECRET}"
    shown, changed = leaky.redaction([SECRET])
    assert changed and shown == redact_value(leaky.to_dict(), [SECRET])
    assert SECRET not in json.dumps(shown) and SECRET in leaky.message


@pytest.mark.parametrize(
    "ev",
    [
        TestEvidence(nodeid="t.py::test_plain", outcome="passed", duration=0.001),
        TestEvidence(nodeid=""),
        TestEvidence(nodeid="t.py::test_o", outcome=""),
        TestEvidence(
            nodeid="t.py::test_y",
            outcome="failed",
            when_failed="teardown",
            markers=["critical", "slow"],
            correlation_ids=["cid-1"],
            message="E   boom",
            skip_reason="x",
            duration=2.5,
        ),
        TestEvidence(
            nodeid='t.py::test_\u00e9["q\\"]\x01',
            correlation_ids=["a", "\u2603"],
            markers=["m"],
            message="line\nnext \U0001f600",
            duration=float("nan"),
        ),
        TestEvidence(nodeid="t.py::inf", outcome="error", duration=float("-inf")),
        full_evidence(),
    ],
    ids=["plain", "empty", "no-outcome", "every-string", "escapes", "infinite", "full"],
)
def test_the_wire_form_is_every_field_not_at_its_default(ev: TestEvidence) -> None:
    # a test without records takes a shorter path (one per test): the same document
    expected = {key: value for key, value in ev.to_dict().items() if value}
    expected["nodeid"] = ev.nodeid
    assert ev.to_json() == json.dumps(expected, default=str, sort_keys=True)


def test_frozen_evidence_is_the_same_evidence_and_final() -> None:
    import copy
    import pickle

    from pytest_deployverify.evidence import NO_ITEMS

    ev, plain = full_evidence(), TestEvidence(nodeid="t.py::p", markers=["critical"])
    other = TestEvidence(nodeid="t.py::q", markers=["critical"])
    before = (ev.to_json(), plain.to_json(), copy.deepcopy(ev), copy.deepcopy(plain))
    for e in (ev, plain, other):
        e.freeze()
    assert (ev.to_json(), plain.to_json()) == before[:2]
    assert (ev, plain) == before[2:]
    assert plain.redacted([]) == redact_value(plain.to_dict(), [])
    # a test without lists of its own keeps none: they are shared
    assert plain.findings is NO_ITEMS and plain.correlation_ids is NO_ITEMS
    assert plain.markers is other.markers and plain.markers == ["critical"]
    # what it had stays its own
    assert ev.findings == before[2].findings and ev.findings is not NO_ITEMS
    assert ev.findings[0].correlation_ids is NO_ITEMS
    for change in (
        lambda: plain.findings.append(Finding(check="c", outcome="pass", rule="r")),
        lambda: plain.markers.append("slow"),
        lambda: plain.correlation_ids.extend(["cid"]),
        lambda: plain.replays.insert(0, {}),
    ):
        with pytest.raises(TypeError, match="evidence of a finished test is final"):
            change()
    assert NO_ITEMS == [] and other.markers == ["critical"]
    # copies are made whole, not item by item
    assert pickle.loads(pickle.dumps(plain)) == plain == copy.deepcopy(plain)

"""User rules per call and in [tool.deployverify.baseline]: stored visibly, applied on compare."""

from __future__ import annotations

import baseline_support

noisy_service = baseline_support.noisy_service
noisy = baseline_support.noisy
bproject = baseline_support.bproject

CALL_RULES = """
import os, uuid
def test_rules(baseline):
    drift = os.environ.get("DV_DRIFT", "")
    value = {
        "request_id": "r-" + uuid.uuid4().hex,
        "job_id": str(uuid.uuid4()) if drift != "bad_uuid" else "not-a-uuid",
        "score": 0.5 if drift not in ("near", "far") else (0.52 if drift == "near" else 0.9),
        "tags": ["a", "b", "c"] if drift != "order" else ["c", "a", "b"],
        "count": 3,
    }
    baseline.check(
        "v", value,
        ignore=["$.request_id"],
        shape={"$.job_id": "uuid"},
        tolerance={"$.score": 0.1},
        unordered=["$.tags"],
    )
"""


def test_call_rules_stored_and_applied(bproject, monkeypatch):
    bproject.tests(CALL_RULES)
    bproject.record("--record-runs", "1").assert_outcomes(passed=1)
    rules = bproject.load("test_inner/test_rules.json")["observations"]["v"]["rules"]
    assert {"path": "$.request_id", "kind": "ignore", "source": "call"} in rules
    assert {
        "path": "$.job_id",
        "kind": "shape",
        "source": "call",
        "schema": {"type": "string", "format": "uuid"},
    } in rules
    assert {"path": "$.score", "kind": "tolerance", "source": "call", "rel": 0.1} in rules
    assert {"path": "$.tags", "kind": "unordered", "source": "call"} in rules
    for drift in ("", "near", "order"):
        monkeypatch.setenv("DV_DRIFT", drift)
        bproject.run().assert_outcomes(passed=1)
    monkeypatch.setenv("DV_DRIFT", "far")
    result = bproject.run()
    result.assert_outcomes(failed=1)
    assert "$.score: expected 0.5, observed 0.9 [tolerance]" in result.stdout.str()
    monkeypatch.setenv("DV_DRIFT", "bad_uuid")
    result = bproject.run()
    result.assert_outcomes(failed=1)
    assert "'not-a-uuid' is not a 'uuid'" in result.stdout.str()


def test_config_rules(bproject, monkeypatch):
    bproject.pyproject(
        extra="""
        [tool.deployverify.baseline]
        ignore = ["**.trace"]
        shape = { "**.id" = "uuid" }
        tolerance = { "$.metrics" = { abs = 5 } }
        unordered = ["$.tags"]
        """
    )
    bproject.tests(
        """
        import os, uuid
        def test_cfg(baseline):
            far = os.environ.get("DV_FAR") == "1"
            baseline.check("v", {
                "trace": uuid.uuid4().hex, "nested": {"id": str(uuid.uuid4()), "trace": os.urandom(4).hex()},
                "metrics": {"a": 10 if not far else 30, "b": [1, 2]}, "tags": ["x", "y"] if not far else ["y", "x"],
            })
        """
    )
    bproject.record("--record-runs", "1").assert_outcomes(passed=1)
    rules = bproject.load("test_inner/test_cfg.json")["observations"]["v"]["rules"]
    assert {"path": "**.trace", "kind": "ignore", "source": "config"} in rules
    bproject.run().assert_outcomes(passed=1)
    monkeypatch.setenv("DV_FAR", "1")
    result = bproject.run()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "1 difference" in out  # the order of tags is not one
    assert "$.metrics.a: expected 10, observed 30 [tolerance]" in out


def test_bad_call_rule_is_a_clear_error(bproject):
    bproject.tests(
        """
        def test_bad(baseline):
            baseline.check("v", {"a": 1}, shape={"$.a": "sometimes"})
        """
    )
    result = bproject.run()
    result.assert_outcomes(failed=1)
    assert "baseline.check shape for '$.a': unknown shape 'sometimes'" in result.stdout.str()


def test_bad_config_rules_are_a_usage_error(bproject):
    bproject.pyproject(extra='[tool.deployverify.baseline]\nignor = ["$.x"]\n')
    bproject.tests("def test_x(baseline):\n    pass\n")
    result = bproject.run()
    assert result.ret == 4
    assert "[tool.deployverify.baseline]: unknown key(s) ['ignor']" in result.stderr.str()


def test_recording_that_breaks_its_own_shape_rule_fails_at_once(bproject):
    bproject.tests(
        """
        def test_bad(baseline):
            baseline.check("v", {"id": "not-a-uuid"}, shape={"$.id": "uuid"})
        """
    )
    result = bproject.record()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "baseline 'v': the recorded value breaks its shape rules" in out
    assert "'not-a-uuid' is not a 'uuid'" in out
    assert "not recorded, the test failed: test_inner.py::test_bad" in out
    assert bproject.files() == {}

"""A missing baseline fails (never a silent write); a broken file names itself and its problem."""

from __future__ import annotations

import json

import baseline_support

noisy_service = baseline_support.noisy_service
noisy = baseline_support.noisy
bproject = baseline_support.bproject

TWO_TESTS = """
def test_one(baseline):
    baseline.check("v", {"a": 1})

def test_two(baseline):
    baseline.check("v", {"b": 2})
"""


def test_record_hint_uses_the_node_id_as_typed_from_a_subdirectory(bproject, monkeypatch):
    """pytest run from a subdirectory: the hint's node id is relative to it, not the rootdir."""
    sub = bproject.pytester.mkdir("suite")
    (sub / "test_deep.py").write_text("def test_one(baseline):\n    baseline.check('v', 1)\n")
    monkeypatch.chdir(sub)
    result = bproject.run("test_deep.py", "--target-env", "noisy")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*pytest 'test_deep.py::test_one' --record-baseline --target-env noisy*"]
    )
    assert "'suite/test_deep.py::test_one' --record" not in result.stdout.str()


def test_record_hint_on_a_protected_target_names_where_the_baseline_came_from(
    bproject, monkeypatch
):
    bproject.tests(
        "import os, pytest\n\n@pytest.mark.nondestructive\n"
        "def test_v(baseline):\n    baseline.check('v', os.environ['DV_V'])\n"
    )
    monkeypatch.setenv("DV_V", "1")
    bproject.record().assert_outcomes(passed=1)
    monkeypatch.setenv("DV_V", "2")
    result = bproject.run("--target-env", "prod")
    result.assert_outcomes(failed=1)
    # prod is never recorded from: the hint names the environment the baseline came from
    result.stdout.fnmatch_lines(
        ["*pytest 'test_inner.py::test_v' --record-baseline --target-env noisy*"]
    )
    assert "--target-env prod" not in result.stdout.str().split("re-record")[-1]


def test_missing_file_fails_with_record_hint(bproject, mode):
    bproject.tests(TWO_TESTS)
    result = bproject.run(*mode)
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "baseline 'v' is missing: no baseline file baselines/test_inner/test_one.json" in out
    # the hint names the environment this run used, not a hard-coded one
    assert "pytest 'test_inner.py::test_one' --record-baseline --target-env noisy" in out
    assert "--target-env local" not in out
    assert "2 missing" in out
    assert bproject.files() == {}  # never written in compare mode


def test_missing_name_in_existing_file(bproject):
    bproject.tests(TWO_TESTS)
    bproject.record().assert_outcomes(passed=2)
    bproject.tests(
        TWO_TESTS.replace('baseline.check("v", {"b": 2})', 'baseline.check("w", {"b": 2})')
    )
    result = bproject.run()
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert (
        "baseline 'w' is missing: no observation 'w' in baselines/test_inner/test_two.json" in out
    )
    # the stored 'v' of test_two was not verified by anyone
    assert "not verified: baselines/test_inner/test_two.json::v" in out


def _break(bproject, text: str) -> None:
    (bproject.baseline_dir / "test_inner" / "test_one.json").write_text(text, encoding="utf-8")


def test_corrupt_json_names_file_and_others_go_on(bproject):
    bproject.tests(TWO_TESTS)
    bproject.record().assert_outcomes(passed=2)
    _break(bproject, '{"schema_version": 1, "observations": {')
    result = bproject.run()
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "baseline file baselines/test_inner/test_one.json: not valid JSON" in out
    assert "line 1 column" in out
    assert "1 unreadable" in out


def test_unreadable_file_names_file_and_others_go_on(bproject, mode):
    bproject.tests(TWO_TESTS)
    bproject.record().assert_outcomes(passed=2)
    where = bproject.baseline_dir / "test_inner" / "test_one.json"
    where.unlink()
    where.mkdir()  # a directory where the file belongs: it exists and cannot be read
    result = bproject.run(*mode)
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "baseline file baselines/test_inner/test_one.json: cannot be read (" in out
    assert "1 unreadable" in out
    assert "Traceback" not in out


def test_hand_edited_wrong_file(bproject):
    bproject.tests(TWO_TESTS)
    bproject.record().assert_outcomes(passed=2)
    data = bproject.load("test_inner/test_one.json")
    data["observations"]["v"]["rules"] = [{"path": "$.a", "kind": "fuzzy"}]
    _break(bproject, json.dumps(data))
    result = bproject.run()
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert (
        "baseline file baselines/test_inner/test_one.json: does not match the baseline file schema"
        in out
    )
    assert "$.observations.v.rules[0].kind" in out


def test_bad_rule_path_in_file(bproject):
    bproject.tests(TWO_TESTS)
    bproject.record().assert_outcomes(passed=2)
    data = bproject.load("test_inner/test_one.json")
    data["observations"]["v"]["rules"] = [{"path": "$.a[", "kind": "ignore"}]
    _break(bproject, json.dumps(data))
    result = bproject.run()
    result.assert_outcomes(passed=1, failed=1)
    assert "observation 'v', rule for '$.a[': cannot parse rule path" in result.stdout.str()


def test_future_schema_version(bproject):
    bproject.tests(TWO_TESTS)
    bproject.record().assert_outcomes(passed=2)
    data = bproject.load("test_inner/test_one.json")
    data["schema_version"] = 7
    _break(bproject, json.dumps(data))
    result = bproject.run()
    result.assert_outcomes(passed=1, failed=1)
    assert (
        "written with baseline schema version 7, but this pytest-deployverify reads version 1"
        in result.stdout.str()
    )

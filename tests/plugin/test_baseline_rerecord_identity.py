"""A re-recording that leaves every file unchanged reports the files as they are: the
verdict's baseline block (checksum, when recorded) is the one a compare run of the same files
reports, not the re-recording's time."""

from __future__ import annotations

import json

import baseline_support

noisy_service = baseline_support.noisy_service
noisy = baseline_support.noisy
bproject = baseline_support.bproject

CHECKS = "\n".join(
    f"def test_{i}(baseline):\n    baseline.check('v', {{'i': {i}, 'name': 'doc-{i}'}})\n"
    for i in range(4)
)


def _baseline_block(bproject) -> dict:
    verdict = json.loads((bproject.pytester.path / "reports" / "verdict.json").read_text())
    return verdict["baseline"]


def test_unchanged_rerecording_reports_the_files_as_they_are(bproject, mode, monkeypatch):
    bproject.tests(CHECKS, name="test_checks")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000000000")  # 2001-09-09T01:46:40Z
    assert bproject.record("--record-runs", "1", *mode).ret == 0
    files = bproject.files()
    assert bproject.run(*mode).ret == 0
    compared = _baseline_block(bproject)
    assert compared["recorded_at"] == "2001-09-09T01:46:40Z"

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "2000000000")  # 2033: a later re-recording
    result = bproject.record("--record-runs", "1", *mode)
    result.stdout.fnmatch_lines(["*0 written, 0 updated, 4 unchanged*"])
    assert bproject.files() == files
    rerecorded = _baseline_block(bproject)
    assert rerecorded["checksum"] == compared["checksum"]
    assert rerecorded["recorded_at"] == "2001-09-09T01:46:40Z"
    assert rerecorded["files"] == 4


def test_a_changed_file_reports_the_new_recording(bproject, monkeypatch):
    bproject.tests(CHECKS, name="test_checks")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000000000")
    assert bproject.record("--record-runs", "1").ret == 0
    first = _baseline_block(bproject)
    bproject.tests(CHECKS.replace("'i': 3", "'i': 30"), name="test_checks")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "2000000000")
    result = bproject.record("--record-runs", "1")
    result.stdout.fnmatch_lines(["*0 written, 1 updated, 3 unchanged*"])
    after = _baseline_block(bproject)
    assert after["checksum"] != first["checksum"]
    assert after["recorded_at"] == "2033-05-18T03:33:20Z"  # the newest file's
    assert bproject.run().ret == 0
    assert _baseline_block(bproject)["checksum"] == after["checksum"]


def test_a_value_of_another_type_is_a_change(bproject):
    """``1``, ``1.0`` and ``True`` are equal in Python but not in a baseline, nor are ``0.0``
    and ``-0.0``: re-recording a value that changed type alone updates the file (the
    unchanged test compares the data type-strictly, as the file's text does)."""

    def source(values: dict[str, str]) -> str:
        return "\n".join(
            f"def test_{name}(baseline):\n    baseline.check('v', {{'n': {value}}})\n"
            for name, value in values.items()
        )

    first = {"int": "1", "float": "1.0", "bool": "True", "zero": "0.0", "negzero": "-0.0"}
    bproject.tests(source(first), name="test_types")
    assert bproject.record("--record-runs", "1").ret == 0
    bproject.tests(source(first), name="test_types")
    bproject.record("--record-runs", "1").stdout.fnmatch_lines(["*0 updated, 5 unchanged*"])
    swapped = {"int": "True", "float": "1", "bool": "1.0", "zero": "-0.0", "negzero": "0.0"}
    bproject.tests(source(swapped), name="test_types")
    result = bproject.record("--record-runs", "1")
    result.stdout.fnmatch_lines(["*0 written, 5 updated, 0 unchanged*"])


def test_a_file_formatted_by_hand_with_the_same_data_is_left_as_it_is(bproject):
    bproject.tests(CHECKS, name="test_checks")
    assert bproject.record("--record-runs", "1").ret == 0
    path = bproject.pytester.path / "baselines" / "test_checks" / "test_0.json"
    compact = json.dumps(json.loads(path.read_text()), separators=(",", ":"))
    path.write_text(compact)
    result = bproject.record("--record-runs", "1")
    result.stdout.fnmatch_lines(["*0 written, 0 updated, 4 unchanged*"])
    assert path.read_text() == compact
    assert bproject.run().ret == 0


#: values of every JSON type and of types JSON conflates (tuple, int keys), with the numbers
#: Python's ``==`` conflates (``1``, ``1.0``, ``True``; ``0.0``, ``-0.0``) and those JSON has
#: no text for (NaN, infinity)
_VALUES = [
    0, 1, True, False, None, 1.0, 0.0, -0.0, 2.5, float("inf"), float("nan"), "a", "", "1",
    [], {}, [1], (1,), [1.0], [True], {"a": 1}, {1: "a"}, {"1": "a"}, {"a": [0.0]},
    {"a": [-0.0]}, {"a": {"b": None}}, {"a": {"b": False}}, [[1, "x"]], [[1, "x", 2]],
]  # fmt: skip


def test_unchanged_means_the_same_canonical_text_for_every_pair_of_values():
    """The re-recording's fast comparison (type for type, no encoding) says "unchanged"
    exactly when the canonical compact texts of the two data are equal."""
    from pytest_deployverify.baseline.recording import _COMPACT, _same_data

    def texts_equal(a, b):
        try:
            return _COMPACT(a) == _COMPACT(b)
        except (TypeError, ValueError):
            return False

    unchanged = 0
    for a in _VALUES:
        for b in _VALUES:
            old = {"recorded_at": "2001-09-09T01:46:40Z", "v": a, "n": 1}
            new = {"n": 1, "v": b, "recorded_at": "2033-05-18T03:33:20Z"}
            expected = texts_equal({"v": a, "n": 1}, {"n": 1, "v": b})
            assert _same_data(old, new) is expected, (a, b)
            same_stamp = dict(new, recorded_at=old["recorded_at"])
            assert _same_data(old, same_stamp) is expected, (a, b)
            unchanged += expected
    assert 0 < unchanged < len(_VALUES) ** 2  # both answers were given
    # a file without a recording time (edited by hand) is still compared by its data
    assert _same_data({"v": 1}, {"v": 1, "recorded_at": "2033-05-18T03:33:20Z"})
    assert not _same_data({"v": 1}, {"v": True, "recorded_at": "2033-05-18T03:33:20Z"})

"""--baseline DIR and [tool.deployverify] baseline_dir choose the baseline set."""

from __future__ import annotations

import baseline_support

noisy_service = baseline_support.noisy_service
noisy = baseline_support.noisy
bproject = baseline_support.bproject

TEST = """
def test_v(baseline):
    baseline.check("v", {"a": 1})
"""


def test_option_chooses_the_directory(bproject, pytester):
    bproject.tests(TEST)
    result = bproject.record("--baseline", "sets/release-1")
    result.stdout.fnmatch_lines(["*recorded into sets/release-1, 2 runs): 1 written*"])
    assert (pytester.path / "sets" / "release-1" / "test_inner" / "test_v.json").is_file()
    assert not (pytester.path / "baselines").exists()
    # the default set has no baseline: a failure, not a silent write
    result = bproject.run()
    result.assert_outcomes(failed=1)
    assert "no baseline file baselines/test_inner/test_v.json" in result.stdout.str()
    bproject.run("--baseline", "sets/release-1").assert_outcomes(passed=1)


def test_pyproject_key_chooses_the_directory(bproject, pytester):
    bproject.pyproject(tool_extra='baseline_dir = "golden"')
    bproject.tests(TEST)
    bproject.record().assert_outcomes(passed=1)
    assert (pytester.path / "golden" / "test_inner" / "test_v.json").is_file()
    result = bproject.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*deployverify baselines: 1 verified*"])
    # the option wins over the key
    result = bproject.run("--baseline", "elsewhere")
    result.assert_outcomes(failed=1)
    assert "no baseline file elsewhere/test_inner/test_v.json" in result.stdout.str()


#: an inner conftest that lists every file collection visits
VISITS = """
def pytest_collect_file(file_path, parent):
    with open("visited.txt", "a", encoding="utf-8") as out:
        out.write(file_path.relative_to(parent.config.rootpath).as_posix() + "\\n")
"""


def _visited(pytester) -> set[str]:
    path = pytester.path / "visited.txt"
    return set(path.read_text(encoding="utf-8").split()) if path.exists() else set()


def test_collection_does_not_walk_the_baseline_directory(bproject, pytester, mode):
    bproject.tests(TEST)
    bproject.record().assert_outcomes(passed=1)
    pytester.makeconftest(VISITS)
    result = bproject.run(*mode)
    result.assert_outcomes(passed=1)
    visited = _visited(pytester)
    assert "test_inner.py" in visited  # the spy saw collection
    assert not [p for p in visited if p.startswith("baselines/")], visited


def test_a_baseline_directory_holding_tests_is_still_collected(bproject, pytester, mode):
    # a baseline set kept beside test modules: the directory is walked as usual
    bproject.pyproject(tool_extra='baseline_dir = "checks"')
    pytester.mkdir("checks")
    pytester.path.joinpath("checks", "test_beside.py").write_text(
        TEST.replace("test_v", "test_beside"), encoding="utf-8"
    )
    bproject.tests(TEST)
    bproject.record().assert_outcomes(passed=2)
    pytester.makeconftest(VISITS)
    result = bproject.run(*mode)
    result.assert_outcomes(passed=2)
    assert {"checks/test_beside.py", "checks/test_inner/test_v.json"} <= _visited(pytester)

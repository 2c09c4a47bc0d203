"""A project that merely has the plugin installed is left alone: its tests' reports reach
junitxml (and every hook after the plugin's) as pytest made them, with no ``deployverify``
user property, serially and under xdist. Once the session uses deployverify (a target, an
option, a check or one of its markers), every test from then on carries its evidence, and the
verdict counts the tests before as well."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

PLAIN = """
import pytest

def test_passes():
    pass

def test_fails():
    assert 1 == 2

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass
"""

#: serially, tests run in file order: one plain test before the marker makes the session use
#: deployverify, one after it
LATE = """
import pytest

def test_a_before():
    pass

@pytest.mark.critical
def test_b_marked():
    pass

def test_c_after():
    pass
"""


def carried(junit: Path) -> dict[str, bool]:
    """test name -> whether its junitxml testcase has the ``deployverify`` property."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        names = [p.get("name") for p in case.iter("property")]
        out[str(case.get("name"))] = "deployverify" in names
    return out


def inner(project: Any, source: str, *args: str) -> pytest.RunResult:
    """Run ``source`` as the inner project's tests, with a JUnit XML file."""
    project.tests(source)
    return project.run("--junitxml", "junit.xml", *args)


def test_installed_but_unused_adds_nothing_to_junit(
    pytester: pytest.Pytester, project: Any, mode: list[str]
) -> None:
    project.pyproject("")
    result = inner(project, PLAIN, *mode)
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    assert carried(pytester.path / "junit.xml") == {
        "test_passes": False,
        "test_fails": False,
        "test_skipped": False,
    }
    assert not (pytester.path / "reports").exists()
    assert "deployverify verdict" not in result.stdout.str()


def test_a_session_with_a_target_carries_every_tests_evidence(
    pytester: pytest.Pytester, project: Any, alt: Any, mode: list[str]
) -> None:
    # the alt service: a target of another shape than docservice's
    project.alt(alt)
    result = inner(project, PLAIN, "--target-env", "alt", *mode)
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    assert carried(pytester.path / "junit.xml") == {
        "test_passes": True,
        "test_fails": True,
        "test_skipped": True,
    }


def test_a_session_that_starts_using_deployverify_counts_the_tests_before(
    pytester: pytest.Pytester, project: Any, mode: list[str]
) -> None:
    project.pyproject("")
    result = inner(project, LATE, "-p", "no:randomly", *mode)
    result.assert_outcomes(passed=3)
    seen = carried(pytester.path / "junit.xml")
    assert seen["test_b_marked"] is True
    if not mode:  # in file order: before the marker, left alone; after it, carried
        assert seen == {"test_a_before": False, "test_b_marked": True, "test_c_after": True}
    verdict: dict[str, Any] = json.loads((pytester.path / "reports" / "verdict.json").read_text())
    assert verdict["counts"]["tests"] == 3
    assert sorted(t["nodeid"].split("::")[-1] for t in verdict["tests"]) == [
        "test_a_before",
        "test_b_marked",
        "test_c_after",
    ]

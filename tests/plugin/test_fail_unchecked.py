"""``--fail-unchecked`` (ini ``deployverify_fail_unchecked``): a response field nothing
touched and nobody declared makes the verdict at least inconclusive, naming the field."""

from __future__ import annotations

from plugin_support import load_json

PARTIAL = """
def test_health(api):
    body = api.get("/ingest/v1/files/nope").json()
    assert "problem" in body
"""

FULL = """
def test_health(api):
    body = api.get("/ingest/v1/files/nope").json()
    assert body["problem"] == "no such file"
"""


def test_untouched_field_makes_the_run_inconclusive(project, alt, mode):
    project.alt(alt)
    project.tests(PARTIAL)
    result = project.run("--fail-unchecked", *mode)
    result.assert_outcomes(passed=1)
    assert result.ret == 6  # the inconclusive exit status
    verdict = load_json(project.pytester.path / "reports" / "verdict.json")
    assert verdict["verdict"] == "inconclusive"
    assert "GET /ingest/v1/files/nope $.problem" in verdict["reason"]
    assert "--fail-unchecked" in verdict["reason"]
    assert verdict["coverage"]["fail_unchecked"] is True


def test_ini_key_turns_it_on(project, alt):
    project.alt(alt)
    pyproject = project.pytester.path / "pyproject.toml"
    # the file ends in its [tool.pytest.ini_options] table
    pyproject.write_text(pyproject.read_text() + "\ndeployverify_fail_unchecked = true\n")
    project.tests(PARTIAL)
    result = project.run()
    assert result.ret == 6
    verdict = load_json(project.pytester.path / "reports" / "verdict.json")
    assert verdict["verdict"] == "inconclusive"


def test_does_not_fire_when_every_field_is_read(project, alt, mode):
    project.alt(alt)
    project.tests(FULL)
    result = project.run("--fail-unchecked", *mode)
    assert result.ret == 0
    verdict = load_json(project.pytester.path / "reports" / "verdict.json")
    assert verdict["verdict"] == "pass"
    assert verdict["coverage"]["counts"]["unchecked"] == 0


def test_does_not_fire_for_a_declared_field(project, alt):
    project.alt(alt)
    project.tests(
        PARTIAL
        + """
def test_declare(field_coverage):
    field_coverage.ignore("$.problem", reason="the status code says it", route="GET /ingest/*")
"""
    )
    result = project.run("--fail-unchecked")
    assert result.ret == 0
    verdict = load_json(project.pytester.path / "reports" / "verdict.json")
    assert verdict["coverage"]["counts"] == {
        **verdict["coverage"]["counts"],
        "declared": 1,
        "unchecked": 0,
    }


def test_without_the_option_unchecked_fields_are_reported_not_judged(project, alt):
    project.alt(alt)
    project.tests(PARTIAL)
    result = project.run()
    assert result.ret == 0
    verdict = load_json(project.pytester.path / "reports" / "verdict.json")
    assert verdict["verdict"] == "pass"
    assert verdict["coverage"]["unchecked_total"] == 1

"""A run that stops before any test (unreachable or misconfigured target) still writes its
verdict: inconclusive -> hold, the redacted cause as the reason, exit status 4, serially and
under xdist (where pytest never calls pytest_sessionfinish), replacing an earlier run's file."""

from __future__ import annotations

import json

import pytest
from verdict_support import dead_url, load_verdict

from pytest_deployverify.report.events import read_events

SECRET = "tok-setup-s3cret-value"
STALE = {"verdict": "pass", "recommendation": "promote", "reason": "An earlier run."}


def _stale(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(STALE))


def _unreachable_project(project, monkeypatch) -> str:
    """A protected 'prod' env on a dead port whose health path carries the target's secret."""
    url = dead_url()
    monkeypatch.setenv("DV_SETUP_TOKEN", SECRET)
    project.pyproject(
        f"""
        [tool.deployverify.envs.prod]
        base_url = "{url}"
        protected = true
        health_path = "/health?token={SECRET}"
        secrets = {{ api_token = "DV_SETUP_TOKEN" }}
        auth = "bearer:api_token"
        """
    )
    project.tests("def test_never(target):\n    raise AssertionError('must not run')\n")
    return url


def test_unreachable_target_rewrites_the_verdict(project, pytester, monkeypatch, mode):
    url = _unreachable_project(project, monkeypatch)
    reports = pytester.path / "reports"
    _stale(reports / "verdict.json")
    result = project.run("--target-env", "prod", "--probe-timeout", "0.5", *mode)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    data = load_verdict(reports / "verdict.json")  # replaced, and valid against the schema
    assert data["verdict"] == "inconclusive" and data["recommendation"] == "hold"
    assert data["reason"].startswith(f"No test ran: target 'prod' is unreachable: GET {url}")
    assert "Connection refused" in data["reason"]
    assert data["setup_error"].startswith("target 'prod' is unreachable")
    assert data["reasons"][0].startswith("no test ran: target 'prod' is unreachable")
    assert data["target"]["name"] == "prod" and data["target"]["protected"] is True
    assert data["counts"]["tests"] == 0 and data["tests"] == []

    summary = (reports / "summary.md").read_text("utf-8")
    assert "target 'prod' is unreachable" in summary
    events = read_events(reports / "events.jsonl")
    assert [e["event"] for e in events if e["event"] == "setup_error"] == ["setup_error"]
    assert events[-1]["event"] == "session_end"
    assert events[-1]["verdict"] == "inconclusive"

    # the cause is named on stderr too, and the secret is nowhere
    result.stderr.fnmatch_lines(["ERROR: target 'prod' is unreachable: *"])
    for text in (
        (reports / "verdict.json").read_text("utf-8"),
        summary,
        (reports / "events.jsonl").read_text("utf-8"),
        result.stdout.str(),
        result.stderr.str(),
    ):
        assert SECRET not in text
    assert "must not run" not in result.stdout.str()


def test_misconfigured_target_writes_the_configured_verdict_file(project, pytester, mode):
    project.pyproject(
        """
        [tool.deployverify.envs.staging]
        base_url = "http://127.0.0.1:9"
        """
    )
    project.tests("def test_never(target):\n    raise AssertionError('must not run')\n")
    verdict_file = pytester.path / "gate" / "verdict.json"
    _stale(verdict_file)
    result = project.run("--target-env", "nope", "--verdict-file", str(verdict_file), *mode)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    data = load_verdict(verdict_file)
    assert data["verdict"] == "inconclusive" and data["recommendation"] == "hold"
    assert "'nope'" in data["reason"] and "'nope'" in data["setup_error"]
    assert data["target"]["name"] is None  # resolving itself failed
    assert data["reports"]["verdict"] == str(verdict_file)


def test_reachable_target_has_no_setup_error(project, pytester, alt, mode):
    """The counterpart: a run that gets its target writes the usual verdict, no setup_error."""
    project.alt(alt)
    project.tests("def test_runs(target):\n    pass\n")
    _stale(pytester.path / "reports" / "verdict.json")
    result = project.run(*mode)
    result.assert_outcomes(passed=1)
    data = load_verdict(pytester.path / "reports" / "verdict.json")
    assert data["verdict"] == "pass" and "setup_error" not in data
    events = read_events(pytester.path / "reports" / "events.jsonl")
    assert "setup_error" not in [e["event"] for e in events]

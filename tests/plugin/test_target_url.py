"""--target-url and DEPLOYVERIFY_TARGET_URL override the environment's base URL."""

from __future__ import annotations

import pytest

SHOW = """
def test_show(target):
    print("TARGET", target.name, target.base_url, "from", target.url_source)
"""


def _env(project, url: str) -> None:
    project.pyproject(
        f"""
        [tool.deployverify.envs.local]
        base_url = "{url}"
        health_path = "/healthz"
        """
    )


def test_option_overrides_base_url(project, alt, mode):
    _env(project, "http://127.0.0.1:9")  # nothing listens there: must not be used
    project.tests(SHOW)
    result = project.run("--target-url", alt.url, *mode)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"target 'local' at {alt.url} (from --target-url)"])


def test_env_var_overrides_base_url(project, alt, monkeypatch, mode):
    _env(project, "http://127.0.0.1:9")
    monkeypatch.setenv("DEPLOYVERIFY_TARGET_URL", alt.url + "/")
    project.tests(SHOW)
    result = project.run(*mode)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"target 'local' at {alt.url} (from DEPLOYVERIFY_TARGET_URL)"])


def test_option_wins_over_env_var(project, alt, monkeypatch):
    _env(project, "http://127.0.0.1:9")
    monkeypatch.setenv("DEPLOYVERIFY_TARGET_URL", "http://127.0.0.1:9")
    project.tests(SHOW)
    result = project.run("-s", "--target-url", alt.url)
    result.stdout.fnmatch_lines([f"*TARGET local {alt.url} from --target-url"])


def test_zero_config_url_only(project, alt):
    """No [tool.deployverify] at all: --target-url alone is enough."""
    project.pyproject("")
    project.tests(
        """
        def test_show(target, api):
            assert target.name == "local" and not target.protected
            assert api.get("/healthz", check_echo=False).status_code == 200
        """
    )
    project.run("--target-url", alt.url).assert_outcomes(passed=1)


def test_url_replaces_launch(project, alt):
    """A URL given for a launch env means: use that deployment, launch nothing."""
    project.pyproject(
        """
        [tool.deployverify.envs.local]
        launch = "/nonexistent/launcher --ready-file {ready_file}"
        health_path = "/healthz"
        """
    )
    project.tests(SHOW)
    result = project.run("-s", "--target-url", alt.url)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*TARGET local {alt.url} from --target-url"])


def test_invalid_url_is_rejected(project, alt):
    _env(project, alt.url)
    project.tests(SHOW)
    result = project.run("--target-url", "docs.example.com")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: target URL 'docs.example.com' (from --target-url) is not an http(s) URL*"]
    )

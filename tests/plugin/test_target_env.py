"""--target-env, the ini key, [tool.deployverify] default_env and the 'local' default."""

from __future__ import annotations

import pytest

SHOW_TARGET = """
def test_show(target):
    print("TARGET", target.name, target.base_url, target.url_source)
    # the repr never shows a secret value
    assert "sekrit" not in repr(target) and "sekrit" not in str(target)
    assert target.secret("token") == "sekrit-value-1"
"""


def _two_envs(project, alt, default: str = "", ini: str = "") -> None:
    default_line = f'default_env = "{default}"' if default else ""
    project.pyproject(
        f"""
        [tool.deployverify]
        {default_line}

        [tool.deployverify.envs.local]
        base_url = "{alt.url}/local-prefix"
        health_path = "/healthz"
        secrets = {{ token = "DV_TOKEN" }}

        [tool.deployverify.envs.staging]
        base_url = "{alt.url}"
        health_path = "/healthz"
        secrets = {{ token = "DV_TOKEN" }}
        """,
        ini=ini,
    )


@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv("DV_TOKEN", "sekrit-value-1")


def test_default_is_local(project, alt):
    _two_envs(project, alt)
    project.tests(SHOW_TARGET)
    result = project.run("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*TARGET local {alt.url}/local-prefix base_url"])
    result.stdout.fnmatch_lines([f"target 'local' at {alt.url}/local-prefix (from base_url)"])


def test_xdist_without_a_selection_says_how_to_choose(project, alt):
    # Environments alone do not make an xdist run launch or probe anything (a project's unit
    # tests stay untouched); a test that needs the target then gets one clear message.
    _two_envs(project, alt)
    project.tests(SHOW_TARGET)
    result = project.run("-n", "2")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*under pytest-xdist the target is chosen once*--target-env NAME*"]
    )
    assert "TARGET" not in result.stdout.str()


def test_xdist_with_default_env_shares_the_default(project, alt):
    _two_envs(project, alt, default="local")
    project.tests(SHOW_TARGET)
    result = project.run("-n", "2")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"target 'local' at {alt.url}/local-prefix (from base_url)"])


def test_default_env_key(project, alt):
    _two_envs(project, alt, default="staging")
    project.tests(SHOW_TARGET)
    project.run("-s").stdout.fnmatch_lines([f"*TARGET staging {alt.url} base_url"])


def test_option_wins_over_ini_and_default_env(project, alt, mode):
    _two_envs(project, alt, default="local", ini='deployverify_target_env = "local"')
    project.tests(SHOW_TARGET)
    result = project.run("--target-env", "staging", *mode)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"target 'staging' at {alt.url} (from base_url)"])


def test_ini_key_wins_over_default_env(project, alt):
    _two_envs(project, alt, default="local", ini='deployverify_target_env = "staging"')
    project.tests(SHOW_TARGET)
    project.run("-s").stdout.fnmatch_lines(["*TARGET staging *"])


def test_unknown_env_lists_known_ones(project, alt, mode):
    _two_envs(project, alt)
    project.tests(SHOW_TARGET)
    result = project.run("--target-env", "prdo", *mode)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: unknown target environment 'prdo' (chosen by --target-env); known environments*: local, staging.*"
        ]
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert "passed" not in result.stdout.str()


def test_unknown_key_in_env_table(project, alt):
    project.pyproject(
        f"""
        [tool.deployverify.envs.local]
        base_url = "{alt.url}"
        protectd = true
        """
    )
    project.tests(SHOW_TARGET)
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *envs.local*unknown key(s) protectd; valid keys are*"])


def test_no_configuration_and_no_target_use_is_dormant(project):
    """A project without [tool.deployverify] whose tests never use the target is untouched."""
    project.pyproject("")
    project.tests("def test_plain():\n    assert True\n")
    project.run().assert_outcomes(passed=1)
    project.run("-n", "2").assert_outcomes(passed=1)


def test_missing_url_is_one_clear_error(project, mode):
    project.pyproject(
        """
        [tool.deployverify.envs.prod]
        base_url_env = "DV_PROD_URL_UNSET"
        protected = true
        """
    )
    project.tests(SHOW_TARGET)
    result = project.run("--target-env", "prod", *mode)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: target 'prod' has no URL:*Pass --target-url URL or set DV_PROD_URL_UNSET*"]
    )

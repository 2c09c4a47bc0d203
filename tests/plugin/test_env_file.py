"""env_file: .env.NAME read with python-dotenv, values not exported; secrets and auth."""

from __future__ import annotations

import pytest

PROD = """
[tool.deployverify.envs.prod]
base_url_env = "DV_PROD_URL"
{env_file}
secrets = {{ key = "DV_PROD_KEY" }}
auth = "header:X-Api-Key:key"
health_path = "/healthz"

[tool.deployverify.correlation]
header = "X-Request-ID"
"""

USES_SECRET = """
import os

def test_secret(target, api):
    # the file's values reach the target, never the process environment
    assert "DV_PROD_KEY" not in os.environ and "DV_PROD_URL" not in os.environ
    assert target.secret("key") == "{key}"
    assert "{key}" not in repr(target)
    # and the auth header carries it (403 without the key)
    assert api.get("/ingest/v1/files/nope").status_code == 404
    print("ENV_FILE", target.env_file)
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("DV_PROD_KEY", raising=False)
    monkeypatch.delenv("DV_PROD_URL", raising=False)
    monkeypatch.delenv("DEPLOYVERIFY_TARGET_URL", raising=False)


def _write(project, name: str, text: str | bytes) -> None:
    path = project.pytester.path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def test_default_env_file_supplies_url_and_secret(project, alt, alt_key, mode):
    project.pyproject(PROD.format(env_file=""))
    _write(project, ".env.prod", f"DV_PROD_URL={alt.url}\nDV_PROD_KEY='{alt_key}'\n")
    project.tests(USES_SECRET.format(key=alt_key))
    result = project.run("--target-env", "prod", *mode)
    result.assert_outcomes(passed=1)
    assert alt_key not in result.stdout.str() + result.stderr.str()
    sent = [r["headers"].get("X-Api-Key") for r in alt.requests if r["path"] != "/healthz"]
    assert sent == [alt_key]


def test_explicit_env_file_path(project, alt, alt_key):
    project.pyproject(PROD.format(env_file='env_file = "secrets/prod.env"'))
    (project.pytester.path / "secrets").mkdir()
    _write(project, "secrets/prod.env", f"DV_PROD_URL={alt.url}\nDV_PROD_KEY={alt_key}\n")
    project.tests(USES_SECRET.format(key=alt_key))
    result = project.run("-s", "--target-env", "prod")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*ENV_FILE */secrets/prod.env"])


def test_environment_wins_over_file(project, alt, alt_key, monkeypatch):
    project.pyproject(PROD.format(env_file=""))
    _write(project, ".env.prod", f"DV_PROD_URL={alt.url}\nDV_PROD_KEY=wrong-key-from-file\n")
    monkeypatch.setenv("DV_PROD_KEY", alt_key)
    project.tests(
        f"""
        def test_secret(target):
            assert target.secret("key") == "{alt_key}"
        """
    )
    project.run("--target-env", "prod").assert_outcomes(passed=1)


def test_missing_secret_names_variable_and_file(project, alt, mode):
    project.pyproject(PROD.format(env_file=""))
    project.tests(USES_SECRET.format(key="x"))
    result = project.run("--target-env", "prod", "--target-url", alt.url, *mode)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: target 'prod' needs secret 'key' from environment variable DV_PROD_KEY, "
            "which is not set (the env file */.env.prod does not exist). Export DV_PROD_KEY or "
            "add DV_PROD_KEY=<your key> to .env.prod*"
        ]
    )
    assert "Traceback" not in result.stderr.str()


def test_unreadable_env_file(project, alt):
    project.pyproject(PROD.format(env_file=""))
    _write(project, ".env.prod", b"DV_PROD_KEY=\xff\xfe\xfa broken\n")
    project.tests(USES_SECRET.format(key="x"))
    result = project.run("--target-env", "prod", "--target-url", alt.url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: env file */.env.prod (from *envs.prod*) cannot be read: UnicodeDecodeError*"]
    )


def test_env_file_that_is_a_directory(project, alt):
    project.pyproject(PROD.format(env_file=""))
    (project.pytester.path / ".env.prod").mkdir()
    project.tests(USES_SECRET.format(key="x"))
    result = project.run("--target-env", "prod", "--target-url", alt.url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: env file */.env.prod * cannot be read: IsADirectoryError*"]
    )


def test_env_file_is_read_at_configure_time(project, alt, alt_key):
    """Settings read the file: a file gone after pytest_configure still supplies the target."""
    project.pyproject(PROD.format(env_file=""))
    _write(project, ".env.prod", f"DV_PROD_URL={alt.url}\nDV_PROD_KEY='{alt_key}'\n")
    _write(
        project,
        "conftest.py",
        "import os, pytest\n\n"
        "@pytest.hookimpl(trylast=True)\n"
        "def pytest_configure(config):\n"
        "    os.remove('.env.prod')\n",
    )
    project.tests(USES_SECRET.format(key=alt_key))
    result = project.run("--target-env", "prod")
    result.assert_outcomes(passed=1)
    assert not (project.pytester.path / ".env.prod").exists()


def test_unreadable_env_file_of_an_environment_not_used_is_no_error(project):
    """A project that merely defines environments runs plain tests, whatever their env files."""
    project.pyproject(PROD.format(env_file="").replace("envs.prod", "envs.local"))
    (project.pytester.path / ".env.local").mkdir()
    project.tests("def test_plain():\n    assert True\n")
    result = project.run()
    result.assert_outcomes(passed=1)


def test_auth_with_unknown_secret(project, alt):
    project.pyproject(
        f"""
        [tool.deployverify.envs.local]
        base_url = "{alt.url}"
        auth = "bearer:api_token"
        """
    )
    project.tests(USES_SECRET.format(key="x"))
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: *envs.local*: auth uses secret 'api_token', which is in neither secrets nor*"]
    )

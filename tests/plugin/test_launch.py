"""Embedded deployments: launched once by the controller, shared with workers, stopped."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from plugin_support import docservice_env_toml

FAKE = Path(__file__).parent / "servers" / "fake_launcher.py"

SHARE = """
import json, os, pytest

@pytest.mark.parametrize("n", range(4))
def test_uses_deployment(target, api, n):
    assert target.embedded and target.deployment["api_url"] == target.base_url
    # the generated secret reached the deployment and the client
    assert api.get("/needs-auth").status_code == 200
    with open(f"seen-{n}.json", "w") as fh:
        json.dump({"pid": target.deployment["pid"], "child": target.deployment["child_pid"],
                   "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")}, fh)
"""


def _fake_env(project, mode: str = "ok", extra: str = "") -> None:
    project.pyproject(
        f"""
        [tool.deployverify.envs.local]
        launch = "{{python}} {FAKE} --ready-file {{ready_file}} --mode {mode} {extra}"
        launch_secrets = {{ DEPLOYVERIFY_FAKE_TOKEN = "api_token" }}
        auth = "bearer:api_token"
        """
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _launcher_pids(project) -> list[int]:
    path = project.pytester.path / "launcher.pids"
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _wait_dead(pids, timeout: float = 5.0) -> list[int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def test_launched_once_shared_and_stopped(project, mode):
    _fake_env(project)
    project.tests(SHARE)
    result = project.run("--target-env=local", *mode)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["target 'local' at http://127.0.0.1:* (embedded deployment)"])
    seen = [json.loads((project.pytester.path / f"seen-{n}.json").read_text()) for n in range(4)]
    assert len({s["pid"] for s in seen}) == 1, seen  # one deployment for all workers
    if mode:
        assert {s["worker"] for s in seen} == {"gw0", "gw1"}
    assert _launcher_pids(project) == [seen[0]["pid"]]
    # the launcher and the child it started in its group are gone: no stray process
    assert _wait_dead([seen[0]["pid"], seen[0]["child"]]) == []


def test_launch_failure_shows_redacted_stderr(project, mode):
    _fake_env(project, mode="exit")
    project.tests(SHARE)
    result = project.run("--target-env=local", *mode)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: the embedded deployment for target 'local' exited with status 3 before it "
            "was ready. Last launcher output:",
            "    starting fake deployment",
            "    config: token=[[]REDACTED[]] database=none",
            "    fatal: cannot bind port (token was [[]REDACTED[]])",
            "Fix the launch command in [[]tool.deployverify.envs.local[]] or its environment.",
        ]
    )
    assert "Traceback" not in result.stderr.str()
    assert not list(project.pytester.path.glob("seen-*.json"))


def test_launch_timeout_stops_the_launcher(project):
    _fake_env(project, mode="hang")
    project.tests(SHARE)
    started = time.monotonic()
    result = project.run("--launch-timeout", "1")
    assert time.monotonic() - started < 15
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: the embedded deployment for target 'local' was not ready within 1 s*"]
    )
    (pid,) = _launcher_pids(project)
    assert _wait_dead([pid]) == []


def test_ready_file_without_api_url_times_out(project):
    _fake_env(project, mode="garbage")
    project.tests(SHARE)
    result = project.run("--launch-timeout", "1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*was not ready within 1 s (no api_url in its ready file)*"])
    assert _wait_dead(_launcher_pids(project)) == []


def test_missing_launcher_program(project):
    project.pyproject(
        """
        [tool.deployverify.envs.local]
        launch = "/nonexistent/bin/deploy --ready-file {ready_file}"
        """
    )
    project.tests(SHARE)
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: could not start the embedded deployment for target 'local': "
            "'/nonexistent/bin/deploy': No such file or directory*"
        ]
    )


@pytest.mark.parametrize("flag", ["--collect-only", "--fixtures", "--markers", "--setup-plan"])
def test_no_launch_without_tests_to_run(project, flag):
    _fake_env(project)
    project.tests(SHARE)
    result = project.run(flag)
    assert result.ret == pytest.ExitCode.OK
    assert _launcher_pids(project) == []


def test_help_does_not_launch(project):
    _fake_env(project)
    project.tests(SHARE)
    result = project.run("--help")
    result.stdout.fnmatch_lines(["deployverify: verify a deployment*", "*--target-env=NAME*"])
    assert _launcher_pids(project) == []


# ---------------------------------------------------------------- the real docservice


DOCSERVICE_TEST = """
import json, os, pytest

@pytest.mark.parametrize("n", range(2))
def test_real_upload(target, upload_document, n):
    run = upload_document({pdf!r})
    run.raise_for_outcome()
    assert run.status_sequence[-1] == "complete"
    assert target.deployment["database"] == {database!r}
    # the launch directory is in the deployment's environment (issue 18's contract)
    with open(f"/proc/{{target.deployment['pid']}}/environ", "rb") as fh:
        env = dict(v.split(b"=", 1) for v in fh.read().split(b"\\0") if b"=" in v)
    dirs = [env[b"DEPLOYVERIFY_LAUNCH_DIR"].decode(), target.deployment["data_dir"]]
    dirs += [target.deployment["postgres_dir"]] if "postgres_dir" in target.deployment else []
    assert all(os.path.isdir(d) for d in dirs), dirs  # what must be gone after the session
    with open(f"ds-{{n}}.json", "w") as fh:
        json.dump({{"pid": target.deployment["pid"], "workers": target.deployment["workers"],
                    "outcome": run.outcome, "chunks": run.document["chunk_count"],
                    "dirs": dirs}}, fh)
"""

REPO = Path(__file__).resolve().parents[2]


def _docservice_env(project, env: str) -> None:
    """The repository's own [tool.deployverify] envs, copied into the inner project."""
    project.pyproject(docservice_env_toml(env))


@pytest.fixture
def docservice_launcher():
    import importlib.util

    if importlib.util.find_spec("docservice.__main__") is None:
        pytest.skip("docservice launcher not available yet")


def _check_docservice_run(project, result, workers: int) -> None:
    result.assert_outcomes(passed=2)
    seen = [json.loads((project.pytester.path / f"ds-{n}.json").read_text()) for n in range(2)]
    assert {s["outcome"] for s in seen} == {"complete"}
    assert len({s["pid"] for s in seen}) == 1
    assert seen[0]["workers"] == workers
    assert _wait_dead([seen[0]["pid"]], timeout=15) == []
    # a normal end leaves nothing: launch directory, data directory, PostgreSQL's directory
    assert len(seen[0]["dirs"]) >= 2  # launch and data directory (and PostgreSQL's)
    deadline = time.monotonic() + 15
    while (
        left := [d for d in seen[0]["dirs"] if Path(d).exists()]
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == []


def test_local_env_launches_docservice(project, docservice_launcher, small_pdf):
    _docservice_env(project, "local")
    project.tests(DOCSERVICE_TEST.format(pdf=small_pdf, database="sqlite"))
    result = project.run("-n", "2", "--target-env", "local")
    _check_docservice_run(project, result, workers=1)


@pytest.mark.slow
def test_local_pg_env_launches_docservice_on_postgres(project, docservice_launcher, small_pdf):
    if not Path("/usr/lib/postgresql/15/bin/postgres").exists():
        pytest.skip("PostgreSQL 15 binaries not installed")
    if shutil.which("prometheus") is None:  # local-pg launches with --with-prometheus
        pytest.skip("prometheus not installed (Debian package 'prometheus')")
    _docservice_env(project, "local-pg")
    project.tests(DOCSERVICE_TEST.format(pdf=small_pdf, database="postgres"))
    result = project.run("--target-env", "local-pg", "--launch-timeout", "90")
    _check_docservice_run(project, result, workers=2)

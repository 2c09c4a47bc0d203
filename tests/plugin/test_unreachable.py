"""An unreachable target stops the run before any test, within --probe-timeout."""

from __future__ import annotations

import socket
import time

import pytest


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_target_is_one_clear_error(project, mode):
    port = _closed_port()
    project.pyproject(
        f"""
        [tool.deployverify.envs.staging]
        base_url = "http://127.0.0.1:{port}"
        """
    )
    project.tests("def test_never(target):\n    raise AssertionError('must not run')\n")
    started = time.monotonic()
    result = project.run("--target-env", "staging", "--probe-timeout", "0.5", *mode)
    assert time.monotonic() - started < 20
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: target 'staging' is unreachable: GET http://127.0.0.1:{port}/health did not "
            "answer within 0.5 s (ConnectionError: Connection refused); check the URL (from "
            "base_url)*raise --probe-timeout*"
        ]
    )
    assert "must not run" not in result.stdout.str()
    assert "Traceback" not in result.stderr.str()


def test_probe_is_bounded_against_a_silent_server(project):
    """A server that accepts but never answers: the probe gives up after --probe-timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        project.pyproject(
            f"""
            [tool.deployverify.envs.local]
            base_url = "http://127.0.0.1:{port}"
            """
        )
        project.tests("def test_never(target):\n    pass\n")
        started = time.monotonic()
        result = project.run("--probe-timeout", "0.6")
        elapsed = time.monotonic() - started
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: target 'local' is unreachable: *within 0.6 s (*imeout*"])
    assert elapsed < 10


def test_degraded_answer_counts_as_reachable(project, alt):
    """Any HTTP answer (here 403 without a key) is reachable: judging health is for tests."""
    project.pyproject(
        f"""
        [tool.deployverify.envs.local]
        base_url = "{alt.url}"
        health_path = "/ingest/v1/files"
        """
    )
    project.tests("def test_runs(target):\n    pass\n")
    project.run().assert_outcomes(passed=1)


def test_tests_not_using_the_target_do_not_probe(project):
    """Without an explicit option, a run whose tests never use the target probes nothing."""
    project.pyproject(
        f"""
        [tool.deployverify.envs.local]
        base_url = "http://127.0.0.1:{_closed_port()}"
        """
    )
    project.tests("def test_plain():\n    pass\n")
    project.run().assert_outcomes(passed=1)

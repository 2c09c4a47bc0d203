"""Exit statuses: pytest's own for pass and fail (never 0 for a failed verdict), the
configurable inconclusive status, serially and under xdist."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from verdict_support import FAKE_BASELINE_CONFTEST, load_verdict, write_fake_baseline

import pytest_deployverify.verdict  # noqa: F401  (imported before inner runs, see conftest)

PASSING = "def test_a(): pass\ndef test_b(): pass\n"
FAILING = "def test_a(): pass\ndef test_b(): assert False\n"
SKIPPED = "import pytest\n@pytest.mark.skip(reason='x')\ndef test_a(): pass\n"
BASE = [0.50, 0.52, 0.49, 0.51, 0.50, 0.53, 0.48, 0.50]
PERF = f"""
def test_perf(timings):
    for s in {[s * 2 for s in BASE]!r}:
        timings.record("t", s)
"""


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makeconftest(FAKE_BASELINE_CONFTEST)
    pytester.makepyfile(test_inner=textwrap.dedent(source))
    return pytester.runpytest("-p", "no:cacheprovider", "--verdict-file", "v.json", *args)


@pytest.mark.parametrize(
    ("source", "verdict", "status"),
    [(PASSING, "pass", 0), (FAILING, "fail", 1), (SKIPPED, "inconclusive", 6)],
    ids=["pass", "fail", "inconclusive"],
)
def test_status_per_verdict(
    pytester: pytest.Pytester, mode: list[str], source: str, verdict: str, status: int
) -> None:
    result = run(pytester, source, *mode)
    assert result.ret == status
    assert load_verdict(pytester.path / "v.json")["verdict"] == verdict


def test_perf_regression_with_every_test_passed_exits_1(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    write_fake_baseline(pytester.path, timings={"t": BASE})
    result = run(pytester, PERF, *mode)
    result.assert_outcomes(passed=1)
    assert result.ret == 1
    assert load_verdict(pytester.path / "v.json")["verdict"] == "fail"


def test_inconclusive_exit_code_is_configurable(pytester: pytest.Pytester) -> None:
    assert run(pytester, SKIPPED, "--inconclusive-exit-code", "0").ret == 0
    pytester.makeini("[pytest]\ndeployverify_inconclusive_exit_code = 75\n")
    assert run(pytester, SKIPPED).ret == 75
    # a pass is unaffected by it
    assert run(pytester, PASSING).ret == 0


def test_bad_inconclusive_exit_code_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = run(pytester, PASSING, "--inconclusive-exit-code", "300")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--inconclusive-exit-code*300*integer from 0 to 255*"])
    assert "Traceback" not in result.stderr.str()


def test_collect_only_writes_no_verdict_and_keeps_status(pytester: pytest.Pytester) -> None:
    result = run(pytester, PASSING, "--collect-only")
    assert result.ret == 0
    assert not (pytester.path / "v.json").exists()


def test_setup_only_writes_no_verdict_even_when_asked_for_one(pytester: pytest.Pytester) -> None:
    # --verdict-file alone makes a session use deployverify (the pass above), --setup-only wins
    result = run(pytester, PASSING, "--setup-only")
    assert result.ret == 0
    assert not (pytester.path / "v.json").exists()
    assert "deployverify verdict" not in result.stdout.str()


def test_project_not_using_deployverify_is_left_alone(pytester: pytest.Pytester) -> None:
    # plugin installed, no [tool.deployverify], no option, no deployverify evidence
    pytester.makepyfile(test_plain=SKIPPED)
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == 0
    assert not (Path(pytester.path) / "reports").exists()
    assert "deployverify verdict" not in result.stdout.str()


def test_interrupted_run_keeps_pytest_status(pytester: pytest.Pytester) -> None:
    source = "import pytest\ndef test_a(): pass\ndef test_b(): pytest.exit('stop', returncode=2)\n"
    result = run(pytester, source)
    assert result.ret == 2
    data = load_verdict(pytester.path / "v.json")
    assert data["verdict"] != "pass"

"""The plugin against a second, independently shaped service: the conversion service.

examples/conversion-service/ is copied into each inner project as a user would copy it, and
pointed at ``convservice`` (an async task API: no event trail, no server timestamps, no
correlation echo, options as form fields, a ``started`` status short enough that polling sees
it only sometimes). The baseline is recorded once per module (``pytest --record-baseline`` in
a subprocess); then 20 compare runs in a row must all pass, and each of five behaviour changes
must fail naming the path or the timing that changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from plugin_support import CONV_KEY, CONVERSION_EXAMPLE
from verdict_support import load_verdict

COMPARE_RUNS = 20
TESTS = 4  # tests in the example suite


@pytest.fixture(scope="module")
def recorded(conversion_service: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example suite with a baseline recorded from the unchanged service (a subprocess,
    exactly the command the tutorial gives)."""
    root = tmp_path_factory.mktemp("conversion") / "suite"
    shutil.copytree(CONVERSION_EXAMPLE, root)
    conversion_service.reset()
    env = {**os.environ, "CONVERT_URL": conversion_service.url, "CONVERT_API_KEY": CONV_KEY}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--record-baseline", "-p", "no:cacheprovider", "-q"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert list((root / "baselines").rglob("*.json"))
    return root


@pytest.fixture
def suite(recorded: Path, conv: Any, pytester: pytest.Pytester) -> pytest.Pytester:
    """This test's copy of the recorded suite, the service reset to its recorded behaviour."""
    shutil.copytree(recorded, pytester.path, dirs_exist_ok=True)
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def _verdict(pytester: pytest.Pytester) -> dict[str, Any]:
    """The run's verdict file, validated against the shipped schema."""
    return load_verdict(pytester.path / "reports" / "verdict.json")


def test_twenty_compare_runs_in_a_row_pass(suite: pytest.Pytester, evidence: Any) -> None:
    """The whole example suite, as a user runs it (its timing test included), 20 times: every
    test passes and every check holds each time. The timings' outcome is not asserted: on a
    machine this busy a client-observed median can move by over a second (586 -> 1586 ms was
    seen at load 21), so asserting it would make this test depend on load; they are checked
    to be recorded and client-observed, and a slowdown is caught by "slower conversion"."""
    saw_started = 0
    for attempt in range(COMPARE_RUNS):
        result = _run(suite)
        outcomes = result.parseoutcomes()
        verdict = _verdict(suite)
        held = [c for c in verdict["checks"] if c["outcome"] != "pass"]
        assert outcomes.get("passed") == TESTS and not held, (
            f"compare run {attempt + 1} of {COMPARE_RUNS} failed:\n" + result.stdout.str()[-4000:]
        )
        if verdict["verdict"] != "pass":  # only a timing may differ, and only by load
            assert any(t["outcome"] != "pass" for t in verdict["timings"]), verdict["reason"]
        _timings_are_client_observed(verdict)
        runs = [r for ev in evidence(result).values() for r in ev.runs]
        assert len(runs) == 7 and all(r["status_source"] == "polling" for r in runs)
        saw_started += sum("started" in [s["status"] for s in r["statuses"]] for r in runs)
    _report_lists_the_configured_components(suite, verdict)
    # how often polling caught the short status is chance; it is printed, never asserted
    print(f"'started' seen in {saw_started} of {COMPARE_RUNS * len(runs)} conversions")


def _timings_are_client_observed(verdict: dict[str, Any]) -> None:
    timings = {t["name"]: t for t in verdict["timings"]}
    assert set(timings) == {"convert.client.success", "convert.client.total"}
    for timing in timings.values():
        assert "client-observed" in timing["rule"] and "client-observed" in timing["reason"]
        assert timing["baseline"]["n"] == 10 and timing["target"]["n"] == 5


def _report_lists_the_configured_components(
    suite: pytest.Pytester, verdict: dict[str, Any]
) -> None:
    assert verdict["target"]["components"] == [
        {"name": "api", "label": "Conversion API"},
        {"name": "converter", "label": "Converter"},
    ]
    summary = (suite.path / "reports" / "summary.md").read_text(encoding="utf-8")
    assert "| Conversion API | working |" in summary and "| Converter | working |" in summary
    # docservice's parts are not this service's: none of them is listed
    assert "Background worker" not in summary and "Embeddings service" not in summary
    assert "convert.client.success" in summary and "client-observed" in summary
    # the intermediate statuses' first sightings: listed, never judged (the upload's answer
    # is always 'pending'; the short 'started' is seen only in some runs)
    observed = {o["name"]: o for o in verdict["observed_timings"]}
    assert "convert.client.pending" in observed, observed
    assert set(observed) <= {"convert.client.pending", "convert.client.started"}, observed
    assert all("not judged" in o["rule"] for o in observed.values())
    assert "Observed, not judged" in summary and "`convert.client.pending`" in summary


#: the tests whose verdict never depends on machine load (the timing test is judged in the
#: 20 runs above and by the "slower conversion" change)
NOT_TIMED = ("-m", "not perf")


def test_compare_under_xdist(suite: pytest.Pytester) -> None:
    result = _run(suite, "-n", "2", *NOT_TIMED)
    result.assert_outcomes(passed=TESTS - 1)
    assert _verdict(suite)["verdict"] == "pass"


#: Each change is far outside what load does to this suite: the slowdown adds 2.5 s to every
#: conversion, where the recorded ones take tens of milliseconds (hundreds under heavy load).
CHANGES = {
    "output value": (
        {"content_suffix": " (converted by v2)"},
        (),
        ["*$.document.document.content*"],
    ),
    "renamed terminal status": (
        {"success_status": "succeeded"},
        ("--stall-timeout", "1", "--fail-fast", "off"),  # every conversion shows the rename
        ["*$.final_status*", "*succeeded*"],
    ),
    "failure status": (
        {"fail": True},
        (),
        ["*the run: document 'sample.pdf' ended 'failed' (final status 'failure')*", "*$.outcome*"],
    ),
    "slower conversion": ({"slow": 2.5}, (), ["*convert.client.success*"]),
    "missing result field": ({"drop_field": "pages"}, (), ["*$.document.document.pages*"]),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_behaviour_change_fails_naming_it(suite: pytest.Pytester, conv: Any, change: str) -> None:
    knobs, args, lines = CHANGES[change]
    conv.knobs.update(knobs)
    result = _run(suite, *args)
    assert result.ret != 0, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(lines, consecutive=False)
    assert _verdict(suite)["verdict"] == "fail"
    if change in ("output value", "missing result field"):
        result.stdout.no_fnmatch_line("*the run: *")  # the runs completed: paths say it all

"""The smoke suite judges the latency a user of the API sees (issue 12): an upload API 0.5 s
slower than the baseline fails the verdict naming that timing, while every server-side stage
time is unchanged; the same deployment without the fault raises no alarm.

The unchanged smoke suite's perf canaries (tests/smoke/test_performance.py) run against a
docservice launched with and without ``slow_upload=0.5`` and are judged against the
repository's baselines and configuration. Why this cannot flake: the baseline holds 30
upload samples of tens of milliseconds; the canaries take at least 5; the timing has an
absolute floor of 0.25 s (pyproject.toml), so machine load must add a quarter of a second to
the *median* upload before a clean deployment could fail, while the fault adds 0.5 s to every
single upload (a sleep: load only adds to it), which puts 5 of 5 samples above all 30
baseline ones.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from plugin_support import REPO, run_smoke, smoke_project

UPLOAD = "http.POST /api/v2/upload"


def _perf_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, faults: str
) -> tuple[Any, dict[str, Any]]:
    """The smoke suite's serial perf canaries with the repository's own configuration (its
    ``local`` environment and timing floors), against docservice with ``faults``."""
    monkeypatch.delenv("DEPLOYVERIFY_TARGET_URL", raising=False)
    for name in [n for n in os.environ if n.startswith(("SMOKE_", "DOCSERVICE_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DOCSERVICE_FAULTS", faults)  # what the launcher's --fault sets
    smoke_project(pytester, (REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return run_smoke(
        pytester,
        "tests/smoke/test_performance.py::test_serial_pipeline_timings",
        "--target-env=local",
    )


def _timings(verdict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in verdict["timings"]}


@pytest.mark.slow
def test_a_half_second_slower_upload_fails_naming_the_timing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, verdict = _perf_run(pytester, monkeypatch, "slow_upload=0.5")
    timings = _timings(verdict)
    upload = timings[UPLOAD]
    assert upload["outcome"] == "fail", upload
    assert upload["target"]["n"] >= 5 and upload["baseline"]["n"] >= 5
    assert min(upload["target"]["samples"]) >= 0.5  # every upload waited out the fault
    assert UPLOAD in upload["reason"]
    assert verdict["verdict"] == "fail" and result.ret != 0
    assert UPLOAD in verdict["reason"] or any(UPLOAD in r for r in verdict["reasons"])
    # server-side stage times do not see it: only the client-side timing can
    assert "serial.small.uploaded" in timings
    result.stdout.fnmatch_lines([f"  timing fail: {UPLOAD}*"])


@pytest.mark.slow
def test_the_unfaulted_deployment_raises_no_latency_alarm(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, verdict = _perf_run(pytester, monkeypatch, "")
    timings = _timings(verdict)
    for name in (UPLOAD, "http.GET /api/v2/jobs/{id}", "http.GET /api/v2/documents/{id}"):
        judged = timings[name]
        assert judged["target"]["n"] >= 5 and judged["baseline"]["n"] >= 5, judged
    upload = timings[UPLOAD]
    assert upload["outcome"] != "fail", upload

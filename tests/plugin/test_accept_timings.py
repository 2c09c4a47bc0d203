"""``--accept-timings``: a person accepting a new normal (new hardware) appends this run's
samples to the timing history even though timings failed, marked accepted; the next runs are
judged against it. Against the alt service, serially and under xdist."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_timing_history import INNER, REFERENCE, history_files, recorded_project
from verdict_support import load_verdict


def test_accepted_slower_timings_become_the_new_normal(
    project: Any, alt: Any, mode: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = recorded_project(project, alt)
    args = ("--baseline", "bl", "--verdict-file", "v.json", "--timing-history", "hist", *mode)

    monkeypatch.setenv("SLOWDOWN", "2")  # new, slower hardware
    accepted = project.run(*args, "--accept-timings")
    data = load_verdict(root / "v.json")
    assert data["verdict"] == "fail"  # accepting does not change this run's verdict
    assert accepted.ret == 1
    (written,) = history_files(root / "hist")
    run = json.loads(written.read_text())
    assert run["accepted"] is True and run["verdict"] == "fail"
    assert run["timings"]["alt.op"] == [s * 2 for s in REFERENCE]
    accepted.stdout.fnmatch_lines(["*timing history: appended 1 timings*accepted by hand*"])

    after = project.run(*args)  # same hardware, judged against the accepted run
    data = load_verdict(root / "v.json")
    assert data["verdict"] == "pass", data["reason"]
    (t,) = data["timings"]
    assert t["reference"] == "history" and "1 accepted by hand" in t["reference_detail"]
    assert after.ret == 0


def test_without_accept_a_failing_run_is_not_appended(
    project: Any, alt: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = recorded_project(project, alt)
    monkeypatch.setenv("SLOWDOWN", "2")
    result = project.run("--baseline", "bl", "--verdict-file", "v.json", "--timing-history", "h")
    assert result.ret == 1
    assert history_files(root / "h") == []


def test_accept_without_a_history_is_a_usage_error(project: Any, alt: Any) -> None:
    project.alt(alt)
    project.tests(INNER)
    result = project.run("--accept-timings")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--accept-timings needs a timing history*--timing-history*"])

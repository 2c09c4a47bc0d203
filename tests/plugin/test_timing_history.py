"""``--timing-history DIR``: a passing run appends its samples to DIR/<environment>/ with
provenance; once it holds enough runs, timings are judged against its last runs instead of the
baseline, and the verdict says which reference judged each timing. Files are atomic, bounded
and a corrupt one falls back to the baseline, marked so. Against the alt service, serially and
under xdist."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from verdict_support import load_verdict

from pytest_deployverify.timing_history import (
    HistoryError,
    HistorySettings,
    append_run,
    env_dir,
    load_reference,
)

REFERENCE = [0.8 * (0.75 + 0.5 * ((i * 7) % 10) / 9) for i in range(10)]

INNER = f"""
import os, requests

def test_op(timings, target):
    factor = float(os.environ.get("SLOWDOWN", "1"))
    assert requests.get(target.base_url + "/healthz", timeout=5).status_code == 200
    for s in {REFERENCE!r}:
        timings.record("alt.op", s * factor)
"""


def history_files(root: Path, env: str = "alt") -> list[Path]:
    return sorted((root / env).glob("*.json"))


def recorded_project(project: Any, alt: Any) -> Path:
    """An alt-service project whose baseline holds REFERENCE for ``alt.op``; its root."""
    project.alt(alt, extra="\n[tool.deployverify.perf]\nabs_floor_s = 0.0\n")
    project.tests(INNER)
    recorded = project.run("--baseline", "bl", "--record-baseline", "--record-runs", "1")
    assert recorded.ret == 0, recorded.stdout.str()
    return Path(project.pytester.path)


# ------------------------------------------------------------------------ the module alone


def test_append_then_load_pools_the_newest_runs(tmp_path: Path) -> None:
    settings = HistorySettings(tmp_path, min_runs=2, last_runs=2)
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert load_reference(settings, "prod") is None  # nothing yet
    append_run(settings, "prod", {"t": [1.0]}, "pass", {"version": "1"}, now=start)
    assert load_reference(settings, "prod") is None  # 1 of the 2 runs needed
    append_run(settings, "prod", {"t": [2.0]}, "pass", now=start + timedelta(minutes=1))
    append_run(settings, "prod", {"t": [3.0]}, "fail", None, True, start + timedelta(minutes=2))
    ref = load_reference(settings, "prod")
    assert ref is not None
    assert ref.samples == {"t": [2.0, 3.0]}  # the last 2 of 3, oldest first
    assert "last 2 of 3 runs" in ref.detail and "1 accepted by hand" in ref.detail
    first = json.loads(sorted(env_dir(tmp_path, "prod").glob("*.json"))[0].read_text())
    assert first["deployment_version"] == {"version": "1"} and first["verdict"] == "pass"
    assert first["run_id"] and first["recorded_at"].startswith("2026-12-01T00:00:00")


def test_history_is_bounded_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    settings = HistorySettings(tmp_path, last_runs=2, keep=3)
    for _ in range(6):
        append_run(settings, "prod", {"t": list(range(5000))}, "pass")
    files = list(env_dir(tmp_path, "prod").iterdir())
    assert len(files) == 3 and all(not f.name.startswith(".tmp") for f in files)
    assert len(json.loads(files[0].read_text())["timings"]["t"]) == 1000


@pytest.mark.parametrize("content", ["{not json", '{"schema_version": 1, "timings": [1]}'])
def test_a_corrupt_file_is_a_clear_error_naming_it(tmp_path: Path, content: str) -> None:
    settings = HistorySettings(tmp_path)
    append_run(settings, "prod", {"t": [1.0]}, "pass")
    bad = env_dir(tmp_path, "prod") / "99999999T-bad.json"
    bad.write_text(content)
    with pytest.raises(HistoryError, match=r"99999999T-bad\.json") as info:
        load_reference(settings, "prod")
    assert "delete or restore the file" in str(info.value)


def test_environment_names_cannot_leave_the_directory(tmp_path: Path) -> None:
    assert env_dir(tmp_path, "../../etc").parent == tmp_path


# ------------------------------------------------------------------------ through pytest


def test_history_takes_over_from_the_baseline_and_a_slower_run_fails_against_it(
    project: Any, alt: Any, mode: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = recorded_project(project, alt)
    args = ("--baseline", "bl", "--verdict-file", "v.json", "--timing-history", "hist", *mode)
    assert not (root / "hist").exists()  # record mode never appends

    first = project.run(*args)
    data = load_verdict(root / "v.json")
    assert data["verdict"] == "pass", data["reason"]
    (t,) = data["timings"]
    assert t["reference"] == "baseline" and "fewer than 1 run" in t["reference_detail"]
    (written,) = history_files(root / "hist")
    run = json.loads(written.read_text())
    assert run["verdict"] == "pass" and run["accepted"] is False
    assert run["timings"]["alt.op"] == REFERENCE
    first.stdout.fnmatch_lines(["*timing history: appended 1 timings to*verdict pass*"])

    monkeypatch.setenv("SLOWDOWN", "2")
    slower = project.run(*args)
    data = load_verdict(root / "v.json")
    assert data["verdict"] == "fail", data["reason"]
    (t,) = data["timings"]
    assert t["reference"] == "history" and "last 1 of 1 runs" in t["reference_detail"]
    slower.stdout.fnmatch_lines(
        ["*timings judged against the history: last 1 of 1 runs*", "*not appended*"]
    )
    assert len(history_files(root / "hist")) == 1  # a failing run is not appended
    summary = (root / "reports" / "summary.md").read_text("utf-8")
    assert "| alt.op |" in summary and "(10, history)" in summary  # the report says it too

    written.write_text("{broken")
    fallback = project.run(*args)
    data = load_verdict(root / "v.json")
    (t,) = data["timings"]
    assert t["reference"] == "baseline (history unusable)"
    assert "cannot be read" in t["reference_detail"]
    assert data["verdict"] == "fail"  # still judged: against the baseline
    fallback.stdout.fnmatch_lines(["*timing history: timing history file*cannot be read*"])


def test_history_min_runs_waits_for_enough_runs(
    project: Any, alt: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = recorded_project(project, alt)
    args = ("--baseline", "bl", "--verdict-file", "v.json", "--timing-history", "hist")
    for expected in ("baseline", "baseline", "history"):
        project.run(*args, "--timing-history-min-runs", "2")
        (t,) = load_verdict(root / "v.json")["timings"]
        assert t["reference"] == expected
    result = project.run(*args, "--timing-history-runs", "0")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--timing-history-runs = 0 must be a whole number*"])
